package maps

// Store holds a Config: the pinned BPF maps (BPFStore), or memory (MemStore)
// for tests of the command line. A Store is opened locked; Close unlocks it.
type Store interface {
	// Load returns the current configuration with its run-time state
	// (counters, connection counts). The caller may change the result and
	// hand it to Commit.
	Load() (*Config, error)
	// Commit makes the store hold cfg, all at once or not at all.
	Commit(cfg *Config) error
	// ZeroStats zeroes the counters of one service, or of all when svc is nil.
	ZeroStats(svc *Service) error
	// Close releases the store's lock.
	Close() error
}

// Swapper is a Store whose next Commit can be made one swap the datapath
// sees at once (BPFStore; -R --atomic asks for it).
type Swapper interface {
	SwapNextCommit()
}

// MemStore is a Store in memory.
type MemStore struct {
	Cfg *Config
}

// NewMemStore returns an empty MemStore with IPVS's default timeouts.
func NewMemStore() *MemStore { return &MemStore{Cfg: &Config{Timeouts: DefaultTimeouts}} }

func (m *MemStore) Load() (*Config, error) { return m.Cfg.Clone(), nil }

func (m *MemStore) Commit(cfg *Config) error {
	m.Cfg = cfg.Clone()
	return nil
}

func (m *MemStore) ZeroStats(svc *Service) error {
	for _, s := range m.Cfg.Services {
		if svc == nil || SameService(&s.Service, svc) {
			s.Stats = Stats{}
			for _, d := range s.Dests {
				d.Stats = Stats{}
			}
		}
	}
	return nil
}

func (m *MemStore) Close() error { return nil }
