// Command tools is a tiny multi-purpose binary for tests, built FROM scratch
// into orch-example/tools. Usage:
//
//	tools sleep DURATION          sleep, then exit 0 (SIGTERM exits 0 at once)
//	tools exit CODE               exit with CODE
//	tools echo WORDS...           print WORDS on one line to stdout
//	tools echo-err WORDS...       print WORDS on one line to stderr
//	tools env                     print the environment, one KEY=VALUE a line
//	tools ignore-sigterm [DUR]    keep running after SIGTERM (tests stop timeouts)
//	tools healthy-after DUR [FILE] [RUN]  create FILE (default /healthy) after DUR,
//	                              then keep running (for RUN, default forever)
//	tools check-file FILE         exit 0 if FILE exists, 1 otherwise (health checks)
//	tools alloc MIB [DUR]         allocate and touch MIB MiB, then sleep (OOM tests)
//	tools serve ADDR              answer HTTP 200 "ok" on ADDR (e.g. :8080)
//	tools burn [DUR]              keep one CPU busy (for DUR, default forever; autoscaling tests)
//
// Several commands can be chained with "--", e.g.
//
//	tools echo hello -- sleep 1s -- exit 3
package main

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	args := os.Args[1:]
	if len(args) == 0 {
		usage()
		os.Exit(2)
	}
	for len(args) > 0 {
		cmd := args
		rest := []string(nil)
		for i, a := range args {
			if a == "--" {
				cmd, rest = args[:i], args[i+1:]
				break
			}
		}
		if len(cmd) > 0 {
			if err := run(cmd[0], cmd[1:]); err != nil {
				fmt.Fprintf(os.Stderr, "tools %s: %v\n", cmd[0], err)
				os.Exit(2)
			}
		}
		args = rest
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: tools sleep D | exit N | echo ... | echo-err ... | env | ignore-sigterm [D] | healthy-after D [FILE] [RUN] | check-file FILE | wait-file FILE | touch FILE | alloc MIB [D] | serve ADDR   (chain with --)")
}

func run(name string, args []string) error {
	switch name {
	case "sleep":
		d, err := durationArg(args, 0)
		if err != nil {
			return err
		}
		term := make(chan os.Signal, 1)
		signal.Notify(term, syscall.SIGTERM, os.Interrupt)
		select {
		case <-time.After(d):
		case s := <-term:
			fmt.Printf("got %v, exiting\n", s)
			os.Exit(0)
		}
	case "exit":
		code := 0
		if len(args) > 0 {
			n, err := strconv.Atoi(args[0])
			if err != nil {
				return fmt.Errorf("exit code %q: %w", args[0], err)
			}
			code = n
		}
		os.Exit(code)
	case "echo":
		fmt.Println(strings.Join(args, " "))
	case "echo-err":
		fmt.Fprintln(os.Stderr, strings.Join(args, " "))
	case "env":
		for _, kv := range os.Environ() {
			fmt.Println(kv)
		}
	case "ignore-sigterm":
		signal.Ignore(syscall.SIGTERM, os.Interrupt)
		fmt.Println("running; SIGTERM is ignored")
		d := time.Duration(1<<63 - 1)
		if len(args) > 0 {
			var err error
			if d, err = durationArg(args, 0); err != nil {
				return err
			}
		}
		time.Sleep(d)
	case "healthy-after":
		d, err := durationArg(args, 0)
		if err != nil {
			return err
		}
		file := "/healthy"
		if len(args) > 1 {
			file = args[1]
		}
		runFor := time.Duration(1<<63 - 1)
		if len(args) > 2 {
			if runFor, err = durationArg(args, 2); err != nil {
				return err
			}
		}
		term := make(chan os.Signal, 1)
		signal.Notify(term, syscall.SIGTERM, os.Interrupt)
		select {
		case <-time.After(d):
		case <-term:
			os.Exit(0)
		}
		if err := os.WriteFile(file, []byte("ok\n"), 0o644); err != nil {
			return err
		}
		fmt.Printf("healthy: wrote %s\n", file)
		select {
		case <-time.After(runFor):
		case <-term:
			os.Exit(0)
		}
	case "wait-file":
		// Blocks until FILE exists (a test's `docker exec ... /tools touch
		// FILE` says when to go on), or SIGTERM.
		if len(args) != 1 {
			return errors.New("want FILE")
		}
		term := make(chan os.Signal, 1)
		signal.Notify(term, syscall.SIGTERM, os.Interrupt)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			if _, err := os.Stat(args[0]); err == nil {
				break
			}
			select {
			case <-tick.C:
			case <-term:
				os.Exit(0)
			}
		}
	case "touch":
		if len(args) != 1 {
			return errors.New("want FILE")
		}
		if err := os.WriteFile(args[0], nil, 0o644); err != nil {
			return err
		}
	case "check-file":
		if len(args) != 1 {
			return errors.New("want FILE")
		}
		if _, err := os.Stat(args[0]); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	case "alloc":
		if len(args) < 1 {
			return errors.New("want MIB")
		}
		mib, err := strconv.Atoi(args[0])
		if err != nil {
			return err
		}
		buf := make([][]byte, 0, mib)
		for range mib {
			b := make([]byte, 1<<20)
			for i := 0; i < len(b); i += 4096 {
				b[i] = 1
			}
			buf = append(buf, b)
		}
		fmt.Printf("allocated %d MiB\n", len(buf))
		d := time.Duration(1<<63 - 1)
		if len(args) > 1 {
			if d, err = durationArg(args, 1); err != nil {
				return err
			}
		}
		time.Sleep(d)
		fmt.Printf("releasing %d MiB\n", len(buf))
	case "burn":
		d := time.Duration(1<<63 - 1)
		if len(args) > 0 {
			var err error
			if d, err = durationArg(args, 0); err != nil {
				return err
			}
		}
		end := time.Now().Add(d)
		x := uint64(1)
		for time.Now().Before(end) {
			for range 1 << 20 {
				x = x*6364136223846793005 + 1442695040888963407
			}
		}
		fmt.Println("burnt", x%2)
	case "serve":
		if len(args) != 1 {
			return errors.New("want ADDR")
		}
		return http.ListenAndServe(args[0], http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintln(w, "ok")
		}))
	default:
		usage()
		return fmt.Errorf("unknown command %q", name)
	}
	return nil
}

func durationArg(args []string, i int) (time.Duration, error) {
	if len(args) <= i {
		return 0, errors.New("missing DURATION")
	}
	d, err := time.ParseDuration(args[i])
	if err != nil {
		// Accept plain seconds too, like sleep(1).
		if n, nerr := strconv.ParseFloat(args[i], 64); nerr == nil {
			return time.Duration(n * float64(time.Second)), nil
		}
		return 0, err
	}
	return d, nil
}
