// Command job is Orch's example batch task: it prints a few lines (its
// arguments and $MESSAGE), optionally sleeps, and exits with a chosen code.
//
//	job [-sleep 5s] [-exit 3] [args...]
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"time"
)

func main() {
	sleep := flag.Duration("sleep", 0, "sleep this long before exiting")
	exit := flag.Int("exit", 0, "exit code")
	flag.Parse()

	host, _ := os.Hostname()
	fmt.Printf("job starting (host %s)\n", host)
	fmt.Printf("args: %s\n", strings.Join(flag.Args(), " "))
	msg := os.Getenv("MESSAGE")
	if msg == "" {
		msg = "(MESSAGE not set)"
	}
	fmt.Printf("message: %s\n", msg)
	if *sleep > 0 {
		fmt.Printf("sleeping %s\n", *sleep)
		time.Sleep(*sleep)
	}
	if *exit != 0 {
		fmt.Fprintf(os.Stderr, "job failing with exit code %d\n", *exit)
	}
	fmt.Printf("job done, exit code %d\n", *exit)
	os.Exit(*exit)
}
