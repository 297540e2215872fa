package train

import "os"

// moveIntoPlace renames the complete checkpoint directory tmp to final. A
// directory already at final is moved aside first and removed only once tmp
// is in place, so a failed rename leaves it as it was, even when it is the
// checkpoint latest names. The aside name begins with tmp's, so a run killed
// before removing it leaves a temporary that removeStaleTemps deletes.
func moveIntoPlace(tmp, final string) error {
	aside := ""
	if _, err := os.Lstat(final); err == nil {
		aside = tmp + ".old"
		if err := os.Rename(final, aside); err != nil {
			return err
		}
	}
	if err := os.Rename(tmp, final); err != nil {
		if aside != "" {
			_ = os.Rename(aside, final) // put the old one back; err is the failure to report
		}
		return err
	}
	if aside != "" {
		// The new checkpoint is in place; a leftover that cannot be removed
		// now is a temporary the next start removes.
		_ = os.RemoveAll(aside)
	}
	return nil
}
