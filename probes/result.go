package probes

// Result is what one probe read: the typed value of one group of the
// Snapshot. It knows its group and how to put itself there, so that the
// Sampler places results without knowing which groups exist.
//
// Every group type of this package is a Result; a probe returns one from
// Read, and the group list (Groups) makes one for a group that has no
// reading (not configured, timed out).
type Result interface {
	// Group is the JSON name of the group the result fills ("cpu").
	Group() string
	// Place writes the result into its group of s, replacing what was
	// there and touching nothing else.
	Place(s *Snapshot)
}

// Disks is the disk group: one entry per distinct mount.
type Disks []Disk

// HTTPTargets is the http group: one entry per configured target.
type HTTPTargets []HTTPTarget

// Every group type is a Result.
var (
	_ Result = CPU{}
	_ Result = Memory{}
	_ Result = Disks{}
	_ Result = Database{}
	_ Result = Redis{}
	_ Result = Load{}
	_ Result = Network{}
	_ Result = Process{}
	_ Result = HTTPTargets{}
	_ Result = API{}
	_ Result = AppResult{}
	_ Result = AppRoutes{}
)

// Group returns "cpu".
func (CPU) Group() string { return "cpu" }

// Place sets s.CPU.
func (c CPU) Place(s *Snapshot) { s.CPU = c }

// Group returns "memory".
func (Memory) Group() string { return "memory" }

// Place sets s.Memory.
func (m Memory) Place(s *Snapshot) { s.Memory = m }

// Group returns "disk".
func (Disks) Group() string { return "disk" }

// Place sets s.Disk.
func (d Disks) Place(s *Snapshot) { s.Disk = d }

// Group returns "database".
func (Database) Group() string { return "database" }

// Place sets s.Database.
func (d Database) Place(s *Snapshot) { s.Database = d }

// Group returns "redis".
func (Redis) Group() string { return "redis" }

// Place sets s.Redis.
func (r Redis) Place(s *Snapshot) { s.Redis = r }

// Group returns "load".
func (Load) Group() string { return "load" }

// Place sets s.Load.
func (l Load) Place(s *Snapshot) { s.Load = l }

// Group returns "network".
func (Network) Group() string { return "network" }

// Place sets s.Network.
func (n Network) Place(s *Snapshot) { s.Network = n }

// Group returns "process".
func (Process) Group() string { return "process" }

// Place sets s.Process.
func (p Process) Place(s *Snapshot) { s.Process = p }

// Group returns "http".
func (HTTPTargets) Group() string { return "http" }

// Place sets s.HTTP.
func (h HTTPTargets) Place(s *Snapshot) { s.HTTP = h }

// Group returns "api".
func (API) Group() string { return "api" }

// Place sets s.API.
func (a API) Place(s *Snapshot) { s.API = a }
