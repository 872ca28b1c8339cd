package loader

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/cilium/ebpf"

	"github.com/xvs-lb/xvs/bpf"
)

// The state directory's record of the build whose program is pinned there
// (progPin): a symlink whose target is the build id, since bpffs holds only
// pins, directories and symlinks. A new record replaces the old by rename.
const (
	buildLink    = "build_id"
	buildLinkNew = "build_id_new"
)

// BuildID identifies this build's datapath: a hash of its programs'
// instructions, its maps' layouts and its global variables' initial values, as
// the embedded ELF holds them (before load options). Two xvsadm builds with
// the same datapath have the same id, whatever else changed in them.
func BuildID() (string, error) {
	thisBuild.once.Do(func() {
		spec, err := bpf.LoadXvs()
		if err != nil {
			thisBuild.err = fmt.Errorf("load spec: %w", err)
			return
		}
		thisBuild.id, thisBuild.err = SpecBuildID(spec)
	})
	return thisBuild.id, thisBuild.err
}

// thisBuild caches BuildID: the embedded ELF never changes.
var thisBuild struct {
	once sync.Once
	id   string
	err  error
}

// SpecBuildID is BuildID of a collection spec (a variant of the datapath).
func SpecBuildID(spec *ebpf.CollectionSpec) (string, error) {
	spec = spec.Copy() // Marshal may resolve references in place
	h := sha256.New()
	progs := sortedKeys(spec.Programs)
	for _, name := range progs {
		p := spec.Programs[name]
		fmt.Fprintf(h, "prog %s %s %s\n", name, p.Type, p.SectionName)
		if err := p.Instructions.Marshal(h, binary.LittleEndian); err != nil {
			return "", fmt.Errorf("build id of %s: %w", name, err)
		}
	}
	for _, name := range sortedKeys(spec.Maps) {
		writeMapSpec(h, name, spec.Maps[name])
	}
	for _, name := range sortedKeys(spec.Variables) {
		v := spec.Variables[name]
		fmt.Fprintf(h, "var %s %s %d %x\n", name, v.SectionName, v.Offset, v.Value)
	}
	return hex.EncodeToString(h.Sum(nil)[:16]), nil
}

func writeMapSpec(w interface{ Write([]byte) (int, error) }, name string, m *ebpf.MapSpec) {
	fmt.Fprintf(w, "map %s %s %d %d %d %d\n", name, m.Type, m.KeySize, m.ValueSize, m.MaxEntries, m.Flags)
	for _, kv := range m.Contents {
		fmt.Fprintf(w, "  %v=%v\n", kv.Key, kv.Value)
	}
	if m.InnerMap != nil {
		writeMapSpec(w, name+"/inner", m.InnerMap)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// recordedBuild returns the build id recorded in the state directory dir,
// "" when there is none (a directory pinned before builds were recorded).
func recordedBuild(dir string) (string, error) {
	id, err := os.Readlink(filepath.Join(dir, buildLink))
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read build record: %w", err)
	}
	return id, nil
}

// recordBuild records id as the build of the program pinned in dir.
func recordBuild(dir, id string) error {
	tmp := filepath.Join(dir, buildLinkNew)
	os.Remove(tmp) // left by a process that died between the two steps
	if err := os.Symlink(id, tmp); err != nil {
		return fmt.Errorf("write build record: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, buildLink)); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write build record: %w", err)
	}
	return nil
}

// ProgramBuild says whether the state directory runs this build's program.
type ProgramBuild struct {
	ThisBuild bool   `json:"this_build"`
	Recorded  string `json:"recorded_build"` // build id of the pinned program ("" : no record)
	Build     string `json:"build"`          // this build's id
	// Stale lists the interfaces whose link runs another program than the
	// pinned one (an upgrade that stopped half way).
	Stale []string `json:"stale_links,omitempty"`
}

// ProgramBuild compares the pinned program and the attached links with this build.
func (s *State) ProgramBuild() (*ProgramBuild, error) {
	want, err := BuildID()
	if err != nil {
		return nil, err
	}
	return s.programBuild(want)
}

func (s *State) programBuild(want string) (*ProgramBuild, error) {
	rec, err := recordedBuild(s.Dir)
	if err != nil {
		return nil, err
	}
	pb := &ProgramBuild{Recorded: rec, Build: want}
	pi, err := s.Objs.XvsXdp.Info()
	if err != nil {
		return nil, fmt.Errorf("program info: %w", err)
	}
	pinned, _ := pi.ID()
	att, err := s.Attachments()
	if err != nil {
		return nil, err
	}
	for _, a := range att {
		if a.Mode != ModeIPVS && a.ProgID != uint32(pinned) {
			pb.Stale = append(pb.Stale, a.Iface)
		}
	}
	pb.ThisBuild = rec == want && len(pb.Stale) == 0
	return pb, nil
}
