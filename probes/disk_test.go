package probes

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shirou/gopsutil/v4/disk"
)

// TestDiskProbe runs the disk probe over real directories with a fixture
// mountinfo that says "/" is an overlay and the data directory a separate
// ext4 volume, as on a Fly machine with a volume.
func TestDiskProbe(t *testing.T) {
	root := t.TempDir() // holds the fixture /proc
	base := t.TempDir() // real directories standing for mount points
	vol := filepath.Join(base, "data")
	sub := filepath.Join(vol, "sqlite")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, root, "/proc/self/mountinfo", fmt.Sprintf(
		"1 0 0:50 / / rw - overlay overlay rw\n"+
			"2 1 0:51 / %s rw - ext4 /dev/vdb rw\n", vol))

	// statfs is real but its figures vary; fix them so the arithmetic
	// can be checked: total 1000, f_bfree 300 -> used 700, f_bavail 200
	// -> 700/(700+200) = 77.777... -> 77.78 %
	usage := func(_ context.Context, p string) (*disk.UsageStat, error) {
		return &disk.UsageStat{Path: p, Total: 1000, Used: 700, Free: 200, Fstype: "whatever"}, nil
	}

	t.Run("overlay root and data volume", func(t *testing.T) {
		p := NewDiskProbe(HostConfig{Root: root, DataDir: sub})
		p.usage = usage
		var s Snapshot
		p.Read(context.Background()).Place(&s)
		if len(s.Disk) != 2 {
			t.Fatalf("got %d entries: %+v", len(s.Disk), s.Disk)
		}
		r, d := s.Disk[0], s.Disk[1]
		if r.Path != "/" || r.Kind != DiskKindOverlay || r.Fstype != "overlay" || r.Data || !strings.Contains(r.Note, "overlay") {
			t.Errorf("root: %+v", r)
		}
		if d.Path != sub || d.Mountpoint != vol || d.Fstype != "ext4" || d.Kind != DiskKindDisk || !d.Data || d.Note != "" {
			t.Errorf("data: %+v", d)
		}
		if d.Status != StatusOK || *d.Percent != 77.78 || *d.UsedBytes != 700 || *d.TotalBytes != 1000 || *d.AvailableBytes != 200 {
			t.Errorf("figures: %+v", d)
		}
	})

	t.Run("paths on one mount are reported once", func(t *testing.T) {
		// data directory not created yet: it will live on its parent's mount
		p := NewDiskProbe(HostConfig{Root: root, DiskPaths: []string{"/", vol}, DataDir: filepath.Join(vol, "not-yet")})
		p.usage = usage
		var s Snapshot
		p.Read(context.Background()).Place(&s)
		if len(s.Disk) != 2 || s.Disk[1].Path != vol || !s.Disk[1].Data {
			t.Fatalf("got %+v", s.Disk)
		}
	})

	t.Run("data on the overlay root", func(t *testing.T) {
		p := NewDiskProbe(HostConfig{Root: root, DataDir: base})
		p.usage = usage
		var s Snapshot
		p.Read(context.Background()).Place(&s)
		if len(s.Disk) != 1 || !s.Disk[0].Data || !strings.Contains(s.Disk[0].Note, "mount a volume") {
			t.Fatalf("got %+v", s.Disk)
		}
	})

	t.Run("one path fails, the other reports", func(t *testing.T) {
		file := filepath.Join(base, "file")
		writeFile(t, "/", file, "x")
		p := NewDiskProbe(HostConfig{Root: root, DiskPaths: []string{"/", filepath.Join(file, "below")}})
		p.usage = usage
		var s Snapshot
		p.Read(context.Background()).Place(&s)
		if len(s.Disk) != 2 || s.Disk[0].Status != StatusOK || s.Disk[1].Status != StatusUnavailable ||
			!strings.Contains(s.Disk[1].Reason, "not a directory") || s.Disk[1].Percent != nil {
			t.Fatalf("got %+v", s.Disk)
		}
	})

	t.Run("statfs fails", func(t *testing.T) {
		p := NewDiskProbe(HostConfig{Root: root})
		p.usage = func(context.Context, string) (*disk.UsageStat, error) { return nil, errors.New("input/output error") }
		var s Snapshot
		p.Read(context.Background()).Place(&s)
		if len(s.Disk) != 1 || s.Disk[0].Status != StatusUnavailable || s.Disk[0].Reason != "statfs: input/output error" ||
			s.Disk[0].TotalBytes != nil || s.Disk[0].Kind != DiskKindOverlay {
			t.Fatalf("got %+v", s.Disk)
		}
	})

	t.Run("real statfs of this machine", func(t *testing.T) {
		var s Snapshot
		NewDiskProbe(HostConfig{DataDir: t.TempDir()}).Read(context.Background()).Place(&s)
		if len(s.Disk) == 0 || s.Disk[0].Status != StatusOK || *s.Disk[0].TotalBytes == 0 || s.Disk[0].Fstype == "" {
			t.Fatalf("got %+v", s.Disk)
		}
		data := false
		for _, d := range s.Disk {
			data = data || d.Data
		}
		if !data {
			t.Errorf("no entry flagged data: %+v", s.Disk)
		}
	})
}
