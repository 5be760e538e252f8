package probes

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/shirou/gopsutil/v4/disk"
)

// DiskProbe reports the filesystems holding the configured paths, each
// mount once, with its kind: an overlay or tmpfs root keeps nothing across
// a redeploy, which an admin reading "12 % used" must not miss.
type DiskProbe struct {
	fs      sysfs
	paths   []string
	dataDir string
	// usage is statfs(2) through gopsutil; a field so tests can fail it.
	usage func(ctx context.Context, path string) (*disk.UsageStat, error)
}

// NewDiskProbe returns the probe of the "disk" group over cfg.DiskPaths
// (default "/") plus cfg.DataDir, which is always reported.
func NewDiskProbe(cfg HostConfig) *DiskProbe {
	paths := cfg.DiskPaths
	if len(paths) == 0 {
		paths = []string{"/"}
	}
	norm := func(p string) string {
		if abs, err := filepath.Abs(p); err == nil {
			p = abs
		}
		return filepath.Clean(p)
	}
	var clean []string
	add := func(p string) {
		if !slices.Contains(clean, p) {
			clean = append(clean, p)
		}
	}
	for _, p := range paths {
		if p != "" {
			add(norm(p))
		}
	}
	dataDir := ""
	if cfg.DataDir != "" {
		dataDir = norm(cfg.DataDir)
		add(dataDir)
	}
	return &DiskProbe{fs: newSysfs(cfg.Root), paths: clean, dataDir: dataDir, usage: disk.UsageWithContext}
}

// Name returns "disk".
func (p *DiskProbe) Name() string { return "disk" }

// Unavailable keeps the configured paths, each unavailable.
func (p *DiskProbe) Unavailable(reason string) Result {
	out := make([]Disk, 0, len(p.paths))
	for _, path := range p.paths {
		out = append(out, Disk{Status: StatusUnavailable, Reason: reason, Path: path, Data: path == p.dataDir})
	}
	return Disks(out)
}

// Read returns the disk group, one entry per distinct mount, in the order of the
// configured paths.
func (p *DiskProbe) Read(ctx context.Context) Result {
	var mounts []mountEntry
	if raw, err := p.fs.read("/proc/self/mountinfo"); err == nil {
		mounts, _ = parseMountinfo(raw) // without it: no dedup, no kind
	}
	out := make([]Disk, 0, len(p.paths))
	index := map[string]int{} // mount key -> position in out
	for _, path := range p.paths {
		isData := path == p.dataDir
		real, err := existingAncestor(path)
		if err != nil {
			out = append(out, Disk{Status: StatusUnavailable, Reason: errReason("resolve path", unwrapPath(err)), Path: path, Data: isData})
			continue
		}
		m, found := mountOf(mounts, real)
		key := "path:" + real
		if found {
			key = "mount:" + m.point
		}
		if i, dup := index[key]; dup {
			if isData {
				out[i].Data = true
				out[i].Note = diskNote(out[i].Kind, true)
			}
			continue
		}
		index[key] = len(out)
		d := Disk{Path: path, Data: isData}
		if found {
			d.Mountpoint, d.Fstype = m.point, m.fstype
			d.Kind = diskKind(m.fstype)
			d.Note = diskNote(d.Kind, isData)
		}
		u, err := p.usage(ctx, real)
		if err != nil {
			d.Status, d.Reason = StatusUnavailable, errReason("statfs", unwrapPath(err))
			out = append(out, d)
			continue
		}
		d.Status = StatusOK
		d.TotalBytes, d.UsedBytes, d.AvailableBytes = ptr(u.Total), ptr(u.Used), ptr(u.Free)
		// used/(used+available) as df shows it; gopsutil's Free is
		// f_bavail, what an unprivileged writer can still use.
		d.Percent = fptr(percent(float64(u.Used), float64(u.Used+u.Free)))
		if d.Fstype == "" {
			d.Fstype = u.Fstype
			d.Kind = diskKind(u.Fstype)
			d.Note = diskNote(d.Kind, isData)
		}
		out = append(out, d)
	}
	return Disks(out)
}

// existingAncestor resolves symlinks in path, walking up to the nearest
// existing directory: a data directory not created yet will live on its
// parent's filesystem.
func existingAncestor(path string) (string, error) {
	for p := path; ; p = filepath.Dir(p) {
		real, err := filepath.EvalSymlinks(p)
		if err == nil {
			return real, nil
		}
		if !errors.Is(err, fs.ErrNotExist) || p == filepath.Dir(p) {
			return "", err
		}
	}
}

func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		return le.Err
	}
	return err
}

// mountOf returns the mount holding path: the longest mount point that is
// a prefix of it, the last listed winning among equals because a later
// mount hides an earlier one at the same place.
func mountOf(mounts []mountEntry, path string) (mountEntry, bool) {
	var best mountEntry
	found := false
	for _, m := range mounts {
		if !pathUnder(m.point, path) {
			continue
		}
		if !found || len(m.point) >= len(best.point) {
			best, found = m, true
		}
	}
	return best, found
}

// pathUnder reports whether path is dir or inside it.
func pathUnder(dir, path string) bool {
	return dir == "/" || path == dir || strings.HasPrefix(path, dir+"/")
}

// diskKind classifies a filesystem type.
func diskKind(fstype string) string {
	switch {
	case fstype == "overlay" || fstype == "overlayfs" || fstype == "aufs":
		return DiskKindOverlay
	case fstype == "tmpfs" || fstype == "ramfs":
		return DiskKindTmpfs
	case strings.HasPrefix(fstype, "nfs"), fstype == "cifs", fstype == "smb3", fstype == "ceph",
		fstype == "glusterfs", fstype == "9p", strings.HasPrefix(fstype, "fuse."):
		return DiskKindNetwork
	case fstype == "":
		return ""
	}
	return DiskKindDisk
}

// diskNote warns, in one line, about a filesystem that does not keep data.
func diskNote(kind string, data bool) string {
	switch {
	case kind == DiskKindOverlay && data:
		return "data directory on the container's overlay root: lost on redeploy; mount a volume"
	case kind == DiskKindTmpfs && data:
		return "data directory on tmpfs: lost on restart; mount a volume"
	case kind == DiskKindOverlay:
		return "container overlay root: writes are lost on redeploy"
	case kind == DiskKindTmpfs:
		return "tmpfs: held in memory, lost on restart"
	}
	return ""
}
