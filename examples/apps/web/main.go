// Command web is Orch's example HTTP service. It listens on $PORT (default
// 8080), answers "hello from orch web (host HOSTNAME)" on /, 200 on /healthz,
// logs each request to stdout and shuts down gracefully on SIGTERM.
//
// Images built FROM scratch have no shell or curl, so web doubles as its own
// health check binary:
//
//	web -check http://127.0.0.1:8080/healthz
//
// exits 0 when the URL answers 2xx and 1 otherwise, e.g. in a task definition:
// "healthCheck": {"command": ["CMD", "/web", "-check", "http://127.0.0.1:8080/healthz"]}.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	check := flag.String("check", "", "health-check mode: GET `URL`, exit 0 on 2xx, 1 otherwise")
	checkTimeout := flag.Duration("check-timeout", 3*time.Second, "timeout for -check")
	flag.Parse()
	if *check != "" {
		os.Exit(runCheck(*check, *checkTimeout))
	}

	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	host, _ := os.Hostname()
	logger := log.New(os.Stdout, "", log.LstdFlags|log.LUTC)

	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintf(w, "hello from orch web (host %s)\n", host)
	})

	srv := &http.Server{
		Addr:              net.JoinHostPort("", port),
		Handler:           logRequests(logger, mux),
		ReadHeaderTimeout: 10 * time.Second,
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()

	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	logger.Printf("web listening on :%s (host %s)", port, host)

	select {
	case err := <-errc:
		logger.Printf("web: %v", err)
		os.Exit(1)
	case <-ctx.Done():
	}
	logger.Printf("web: signal received, shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		logger.Printf("web: shutdown: %v", err)
		os.Exit(1)
	}
	logger.Printf("web: bye")
}

func runCheck(url string, timeout time.Duration) int {
	client := &http.Client{Timeout: timeout}
	resp, err := client.Get(url)
	if err != nil {
		fmt.Fprintf(os.Stderr, "check %s: %v\n", url, err)
		return 1
	}
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		fmt.Fprintf(os.Stderr, "check %s: status %s\n", url, resp.Status)
		return 1
	}
	return 0
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

func logRequests(logger *log.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		logger.Printf("%s %s %d %s %s", r.Method, r.URL.RequestURI(), rec.status, time.Since(start).Round(time.Microsecond), r.RemoteAddr)
	})
}
