package server

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/orch-project/orch/pkg/queue/qlog"
)

func TestQueueLogDir(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cfg     Config
		want    string
		wantErr string
	}{
		{"default with the embedded etcd is local", Config{DataDir: "/d"}, filepath.Join("/d", "queues"), ""},
		{"local asked for", Config{DataDir: "/d", QueueStore: "local"}, filepath.Join("/d", "queues"), ""},
		{"etcd asked for", Config{DataDir: "/d", QueueStore: "etcd"}, "", ""},
		{"default with external etcd is etcd", Config{EtcdEndpoints: []string{"http://e:2379"}}, "", ""},
		{"local with external etcd is refused", Config{EtcdEndpoints: []string{"http://e:2379"}, QueueStore: "local"}, "", "needs the embedded etcd"},
		{"unknown store", Config{DataDir: "/d", QueueStore: "disk"}, "", `--queue-store "disk": want local or etcd`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := queueLogDir(tc.cfg)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one saying %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("queueLogDir = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestEtcdStoreRefusesADataDirWithLocalMessages(t *testing.T) {
	dir := t.TempDir()
	if _, err := queueLogDir(Config{DataDir: dir, QueueStore: "etcd"}); err != nil {
		t.Fatalf("a fresh data dir: %v", err)
	}
	l, err := qlog.Open(filepath.Join(dir, "queues", "shard-03"), qlog.Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Append([]qlog.Record{{Kind: qlog.Send, Queue: "q1", ID: "m1", Data: []byte("{}")}}); err != nil {
		t.Fatal(err)
	}
	l.Close()
	_, err = queueLogDir(Config{DataDir: dir, QueueStore: "etcd"})
	if err == nil || !strings.Contains(err.Error(), "shard-03") || !strings.Contains(err.Error(), "--queue-store local") {
		t.Fatalf("switching to etcd with messages in the local logs: %v, want a refusal naming the log and the way out", err)
	}
	l, _ = qlog.Open(filepath.Join(dir, "queues", "shard-03"), qlog.Options{}, nil)
	if err := l.Append([]qlog.Record{{Kind: qlog.Delete, Queue: "q1", ID: "m1"}}); err != nil {
		t.Fatal(err)
	}
	l.Close()
	if _, err := queueLogDir(Config{DataDir: dir, QueueStore: "etcd"}); err != nil {
		t.Fatalf("after the queue was drained: %v", err)
	}
}
