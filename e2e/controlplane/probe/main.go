// Command probe is the one program in the real node's test images: the pod sandbox's pause
// process, and the steps the node scenarios run in containers (serve, fetch by Service name,
// write where the root is read-only, exhaust memory, leave a termination message, connect where a
// NetworkPolicy allows it and be refused where it does not).
//
//	probe pause
//	probe STEP [ARGS...] [';' STEP [ARGS...]]...
//
// Steps:
//
//	serve ADDR TEXT      answer every HTTP request with TEXT and the pod's host name (never returns)
//	get URL TRIES        GET URL until it answers 200, once a second, at most TRIES times; print the body
//	resolve NAME         look NAME up and print its addresses
//	connect ADDR TRIES   dial TCP ADDR (host:port) until it connects, once a second, at most TRIES times
//	blocked ADDR TRIES   dial TCP ADDR once a second until a dial is refused or times out (a name
//	                     that does not resolve does not count), at most TRIES times; fail if every
//	                     try connected
//	write PATH           try to create PATH; print "wrote PATH" or "cannot write PATH: ERROR"
//	message TEXT         write TEXT to /dev/termination-log
//	alloc                touch memory 16 MiB at a time until the kernel stops it (never returns)
//	sleep SECONDS        sleep
//	self                 print the process's uid, gid, effective capabilities, no_new_privs and seccomp mode
//
// A step that fails ends the program with exit code 1.
package main

import (
	"errors"
	"fmt"
	"io"
	"net"
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
	if len(args) == 1 && args[0] == "pause" {
		pause()
		return
	}
	for len(args) > 0 {
		end := len(args)
		for i, a := range args {
			if a == ";" {
				end = i
				break
			}
		}
		if err := step(args[:end]); err != nil {
			fmt.Fprintf(os.Stderr, "probe: %v\n", err)
			os.Exit(1)
		}
		if end == len(args) {
			break
		}
		args = args[end+1:]
	}
}

// pause sleeps until SIGINT or SIGTERM and reaps the orphans a pod's PID namespace hands it.
func pause() {
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for s := range sigs {
		if s != syscall.SIGCHLD {
			return
		}
		for {
			var status syscall.WaitStatus
			if pid, err := syscall.Wait4(-1, &status, syscall.WNOHANG, nil); pid <= 0 || err != nil {
				break
			}
		}
	}
}

func step(args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("an empty step")
	}
	need := func(n int) error {
		if len(args)-1 != n {
			return fmt.Errorf("%s takes %d arguments, got %d", args[0], n, len(args)-1)
		}
		return nil
	}
	switch args[0] {
	case "serve":
		if err := need(2); err != nil {
			return err
		}
		host, _ := os.Hostname()
		text := args[2] + " from " + host + "\n"
		return http.ListenAndServe(args[1], http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			_, _ = io.WriteString(w, text)
		}))
	case "get":
		if err := need(2); err != nil {
			return err
		}
		tries, err := strconv.Atoi(args[2])
		if err != nil {
			return fmt.Errorf("get: tries %q: %v", args[2], err)
		}
		client := http.Client{Timeout: 5 * time.Second}
		var last error
		for i := 0; i < tries; i++ {
			if i > 0 {
				time.Sleep(time.Second)
			}
			resp, err := client.Get(args[1])
			if err != nil {
				last = err
				fmt.Fprintf(os.Stderr, "get %s: %v\n", args[1], err)
				continue
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != http.StatusOK {
				last = fmt.Errorf("status %d, %v", resp.StatusCode, err)
				continue
			}
			fmt.Printf("%s", body)
			return nil
		}
		return fmt.Errorf("get %s: %d tries: %v", args[1], tries, last)
	case "connect", "blocked":
		if err := need(2); err != nil {
			return err
		}
		tries, err := strconv.Atoi(args[2])
		if err != nil {
			return fmt.Errorf("%s: tries %q: %v", args[0], args[2], err)
		}
		return dial(args[0] == "blocked", args[1], tries)
	case "resolve":
		if err := need(1); err != nil {
			return err
		}
		addrs, err := net.LookupHost(args[1])
		if err != nil {
			return err
		}
		fmt.Printf("%s resolves to %v\n", args[1], addrs)
		return nil
	case "write":
		if err := need(1); err != nil {
			return err
		}
		if err := os.WriteFile(args[1], []byte("probe\n"), 0o644); err != nil {
			fmt.Printf("cannot write %s: %v\n", args[1], err)
		} else {
			fmt.Printf("wrote %s\n", args[1])
		}
		return nil
	case "message":
		if err := need(1); err != nil {
			return err
		}
		return os.WriteFile("/dev/termination-log", []byte(args[1]), 0o644)
	case "alloc":
		var held [][]byte
		for {
			chunk := make([]byte, 16<<20)
			for i := 0; i < len(chunk); i += 4096 {
				chunk[i] = 1
			}
			held = append(held, chunk)
			fmt.Printf("holding %d MiB\n", 16*len(held))
		}
	case "self":
		if err := need(0); err != nil {
			return err
		}
		status, err := os.ReadFile("/proc/self/status")
		if err != nil {
			return err
		}
		fields := map[string]string{}
		for _, line := range strings.Split(string(status), "\n") {
			if key, value, ok := strings.Cut(line, ":"); ok {
				fields[key] = strings.Join(strings.Fields(value), " ")
			}
		}
		fmt.Printf("uid=%d gid=%d CapEff=%s NoNewPrivs=%s Seccomp=%s\n", os.Getuid(), os.Getgid(),
			fields["CapEff"], fields["NoNewPrivs"], fields["Seccomp"])
		return nil
	case "sleep":
		if err := need(1); err != nil {
			return err
		}
		seconds, err := strconv.Atoi(args[1])
		if err != nil {
			return fmt.Errorf("sleep: %q: %v", args[1], err)
		}
		time.Sleep(time.Duration(seconds) * time.Second)
		return nil
	}
	return fmt.Errorf("unknown step %q", args[0])
}

// dial tries ADDR once a second, at most tries times, until a dial connects (wantBlocked false)
// or fails other than by a name lookup (wantBlocked true): a NetworkPolicy's REJECT or DROP.
func dial(wantBlocked bool, addr string, tries int) error {
	var last error
	for i := 0; i < tries; i++ {
		if i > 0 {
			time.Sleep(time.Second)
		}
		conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err == nil {
			conn.Close()
			if !wantBlocked {
				fmt.Printf("%s connected\n", addr)
				return nil
			}
			fmt.Fprintf(os.Stderr, "%s connected, try %d\n", addr, i+1)
			continue
		}
		last = err
		var dns *net.DNSError
		if wantBlocked && !errors.As(err, &dns) {
			fmt.Printf("%s blocked: %v\n", addr, err)
			return nil
		}
		fmt.Fprintf(os.Stderr, "%s: %v\n", addr, err)
	}
	if wantBlocked && last == nil {
		return fmt.Errorf("%s: connected on each of %d tries, never blocked", addr, tries)
	}
	if wantBlocked {
		return fmt.Errorf("%s: never blocked in %d tries (last: %v)", addr, tries, last)
	}
	return fmt.Errorf("%s: %d tries: %v", addr, tries, last)
}
