package awsproto

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestRestoredBodyNeverSmuggles: on a raw kept-alive connection, a request
// body that hides a second request after the limit is never answered as a
// request of its own, whether the client waits for 100 Continue or not,
// whether the answer is written before the handler returns (a large one)
// or after (a small one), and whether the handler restores the body
// (serveAWS) or not (handlers outside it, such as the functions' Runtime
// API, which a function's own code calls).
func TestRestoredBodyNeverSmuggles(t *testing.T) {
	for _, restore := range []bool{true, false} {
		for _, large := range []bool{false, true} {
			for _, expect := range []bool{false, true} {
				for _, over := range []int{10, 300 << 10, -1} {
					// over -1: a chunked body whose encoding breaks
					// before the hidden request (a read error, not a
					// length).
					t.Run(fmt.Sprintf("restore=%v/large=%v/expect=%v/over=%d", restore, large, expect, over), func(t *testing.T) {
						smuggleCase(t, restore, large, expect, over)
					})
				}
			}
		}
	}
}

func smuggleCase(t *testing.T, restore, large, expect bool, over int) {
	smuggled := make(chan struct{}, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if restore {
			defer RestoreBody(r)
		}
		if r.URL.Path == "/smuggled" {
			smuggled <- struct{}{}
		}
		w.Header().Set("X-Path", r.URL.Path)
		_, err := ReadBody(r, 1<<10)
		code := http.StatusOK
		if errors.Is(err, ErrBodyTooLarge) {
			code = http.StatusRequestEntityTooLarge
		} else if err != nil {
			code = http.StatusBadRequest
		}
		w.WriteHeader(code)
		if large {
			// Past net/http's response buffer: the header goes out
			// while the handler runs, before RestoreBody.
			w.Write([]byte(strings.Repeat("x", 16<<10)))
		}
	}))
	defer srv.Close()
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	next := "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
	body := strings.Repeat("a", 1<<10+over) + next
	hdr := fmt.Sprintf("POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n", len(body))
	want := http.StatusRequestEntityTooLarge
	if over < 0 {
		body = "10\r\n0123456789abcdef\r\nzz\r\n" + next
		hdr = "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
		want = http.StatusBadRequest
	}
	if expect {
		hdr += "Expect: 100-continue\r\n"
	}
	hdr += "\r\n"
	br := bufio.NewReader(conn)
	if _, err := conn.Write([]byte(hdr)); err != nil {
		t.Fatal(err)
	}
	if expect {
		// The server asks for the body when the handler reads it.
		line, err := br.ReadString('\n')
		if err != nil || !strings.Contains(line, "100") {
			t.Fatalf("waiting for 100 Continue: %q %v", line, err)
		}
		if _, err := br.ReadString('\n'); err != nil {
			t.Fatal(err)
		}
	}
	// The body may be refused part-way (the server closes): a write error
	// is fine, a smuggled answer is not.
	wrote := make(chan struct{})
	go func() { conn.Write([]byte(body)); close(wrote) }()
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("first answer: %v", err)
	}
	if resp.StatusCode != want {
		t.Fatalf("first answer: %d, want %d", resp.StatusCode, want)
	}
	resp.Body.Close()
	// The connection is closed, or kept for a next request that gets its
	// own answer: never one for the hidden request.
	<-wrote
	conn.Write([]byte("GET /next HTTP/1.1\r\nHost: x\r\n\r\n"))
	if resp2, err := http.ReadResponse(br, nil); err == nil {
		resp2.Body.Close()
		if p := resp2.Header.Get("X-Path"); p != "/next" {
			t.Errorf("the answer after the refused body is for %q, want /next", p)
		}
	}
	select {
	case <-smuggled:
		t.Error("the bytes after the limit were served as a request")
	default:
	}
}
