package docker

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The peak memory file is found from /proc/PID/cgroup on the three host
// layouts: cgroup v2, hybrid (v2 mounted at unified, memory on v1), and v1.
func TestPeakFileFor(t *testing.T) {
	const id = "/docker/abc"
	cases := []struct {
		name  string
		files []string // created under root, each holding a number
		lines string
		want  string // relative to root; "" = none
	}{
		{"v2", []string{id + "/memory.peak"}, "0::" + id + "\n", id + "/memory.peak"},
		{"v2 under systemd", []string{"/system.slice/docker-abc.scope/memory.peak"}, "0::/system.slice/docker-abc.scope\n", "/system.slice/docker-abc.scope/memory.peak"},
		{"hybrid", []string{"/memory" + id + "/memory.max_usage_in_bytes"}, "4:memory:" + id + "\n0::" + id + "\n", "/memory" + id + "/memory.max_usage_in_bytes"},
		{"v1 with joined controllers", []string{"/memory" + id + "/memory.max_usage_in_bytes"}, "3:memory,hugetlb:" + id + "\n", "/memory" + id + "/memory.max_usage_in_bytes"},
		{"outside the namespace", []string{id + "/memory.peak"}, "0::/../../docker/abc\n", ""},
		{"no file (kernel without memory.peak)", nil, "0::" + id + "\n", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			root := t.TempDir()
			for _, f := range c.files {
				p := filepath.Join(root, f)
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte("67108864\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got := peakFileFor(bufio.NewScanner(strings.NewReader(c.lines)), root)
			want := ""
			if c.want != "" {
				want = filepath.Join(root, c.want)
			}
			if got != want {
				t.Fatalf("got %q, want %q", got, want)
			}
			if want != "" {
				if n, err := readInt(got); err != nil || n != 64<<20 {
					t.Fatalf("readInt = %d, %v", n, err)
				}
			}
		})
	}
}

// The peak file stays open between reads; each read sees the value the
// file holds now (the kernel regenerates a cgroup file at offset 0, as a
// rewritten regular file shows here), and after close (Remove) reads go
// by the path, so a removed container's file is not held open.
func TestPeakFileReadsFreshValues(t *testing.T) {
	path := filepath.Join(t.TempDir(), "memory.peak")
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("1024\n")
	pf := &peakFile{path: path}
	for _, c := range []struct {
		content string
		want    int64
	}{{"1024\n", 1024}, {"67108864\n", 64 << 20}, {"4096\n", 4096}} {
		write(c.content)
		if n, err := pf.read(); err != nil || n != c.want {
			t.Fatalf("after writing %q: read = %d, %v; want %d", c.content, n, err, c.want)
		}
	}
	if pf.f == nil {
		t.Fatal("the file should stay open between reads")
	}
	pf.close()
	if pf.f != nil {
		t.Fatal("close should release the file")
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if n, err := pf.read(); err == nil {
		t.Fatalf("read after the file is gone = %d, want an error", n)
	}
	if _, err := (&peakFile{}).read(); err == nil {
		t.Fatal("a container without a peak file should read as an error (the stats API is asked instead)")
	}
}
