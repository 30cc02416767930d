package lambdart

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"syscall"
	"testing"
	"time"
)

// BenchmarkRuntimeExchange: one warm invocation through a real Env on
// loopback: Invoke, the runtime's invocation/next answered, its response
// POSTed chunked with aws-lambda-go's headers. The runtime side is a raw
// client in the same process (the same for every build compared), so
// ns/op is the Env's cost plus a constant.
func BenchmarkRuntimeExchange(b *testing.B) {
	env, err := Listen("127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer env.Close("bench over")
	c, err := net.Dial("tcp", env.ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	prefix := "/" + env.token + "/" + APIVersion + "/runtime/"
	next := "GET " + prefix + "invocation/next HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: aws-lambda-go/go1.26\r\nAccept-Encoding: gzip\r\n\r\n"
	stop := make(chan struct{})
	defer close(stop)
	go func() { // the runtime
		br := bufio.NewReader(c)
		for {
			if _, err := io.WriteString(c, next); err != nil {
				return
			}
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			id := resp.Header.Get("Lambda-Runtime-Aws-Request-Id")
			post := "POST " + prefix + "invocation/" + id + "/response HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: aws-lambda-go/go1.26\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\nTrailer: Lambda-Runtime-Function-Error-Body, Lambda-Runtime-Function-Error-Type\r\nAccept-Encoding: gzip\r\n\r\na\r\n{\"echo\":1}\r\n0\r\n\r\n"
			if _, err := io.WriteString(c, post); err != nil {
				return
			}
			resp, err = http.ReadResponse(br, nil)
			if err != nil {
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
		}
	}()
	ctx := context.Background()
	payload := []byte(`{"echo":1}`)
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := processCPU()
	for range b.N {
		r, err := env.Invoke(ctx, Invocation{Payload: payload, Deadline: time.Now().Add(10 * time.Second)})
		if err != nil || r.FunctionError != "" {
			b.Fatalf("%v %s", err, r.Payload)
		}
	}
	// CPU (user+system) per invocation: on a shared machine wall time is
	// mostly waiting for a core.
	b.ReportMetric(float64(processCPU()-cpu0)/float64(time.Microsecond)/float64(b.N), "cpu-us/op")
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
