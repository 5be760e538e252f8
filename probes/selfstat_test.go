package probes

import (
	"os"
	"testing"
)

func TestParseSelfStat(t *testing.T) {
	// A command name with a space and a parenthesis, as the kernel writes it.
	line := "4242 (vit als) x) S 1 4242 4242 0 -1 4194560 1200 0 0 0 250 130 0 0 20 0 12 0 98765 734003200 5120 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n"
	st, err := parseSelfStat([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	if st.cpuSeconds != 3.8 || st.vsizeBytes != 734003200 {
		t.Fatalf("%+v, want 3.8 s and 734003200 bytes", st)
	}
	for _, bad := range []string{"", "4242 vitals S 1", "4242 (vitals) S 1 2 3", "4242 (vitals) S 1 4242 4242 0 -1 4194560 1200 0 0 0 x 130 0 0 20 0 12 0 98765 734003200 5120"} {
		if _, err := parseSelfStat([]byte(bad)); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
	// The real file parses, and the process has used some CPU.
	raw, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	st, err = parseSelfStat(raw)
	if err != nil || st.vsizeBytes == 0 {
		t.Fatalf("/proc/self/stat: %+v, %v", st, err)
	}
}
