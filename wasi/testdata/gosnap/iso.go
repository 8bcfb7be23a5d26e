// iso.go is the Go guest of the snapshot isolation tests: each line is
// something a request must see as its own when served from a snapshot of
// the runtime's init.
package main

import (
	crand "crypto/rand"
	"fmt"
	"math/rand"
	randv2 "math/rand/v2"
	"os"
	"slices"
	"strings"
	"time"
)

// counter is 1 in every request: main runs once per instance.
var counter int

func main() {
	counter++
	// A goroutine that sleeps: the scheduler and the clock work in the
	// request's instance.
	done := make(chan int64)
	go func() {
		t := time.Now()
		time.Sleep(2 * time.Millisecond)
		done <- int64(time.Since(t) / time.Millisecond)
	}()
	slept := <-done
	m := map[int]bool{}
	for i := range 16 {
		m[i] = true
	}
	var order strings.Builder
	for k := range m {
		fmt.Fprintf(&order, "%x", k)
	}
	env := os.Environ()
	slices.Sort(env)
	data, err := os.ReadFile("/data/file.txt")
	if err != nil {
		data = []byte(err.Error())
	}
	fmt.Print("Content-Type: text/plain\n\n")
	fmt.Printf("counter=%d\n", counter)
	fmt.Printf("rand=%d\n", rand.Int63())
	fmt.Printf("randv2=%d\n", randv2.Uint64())
	fmt.Printf("crypto=%s\n", crand.Text())
	fmt.Printf("time=%d\n", time.Now().UnixNano())
	fmt.Printf("slept=%v\n", slept >= 2)
	fmt.Printf("order=%s\n", order.String())
	fmt.Printf("args=%q\n", os.Args)
	fmt.Printf("env=%q\n", env)
	fmt.Printf("getenv=%q\n", os.Getenv("X"))
	fmt.Printf("file=%s\n", strings.TrimSpace(string(data)))
	switch os.Getenv("END") {
	case "exit":
		os.Exit(7)
	case "panic":
		panic("boom")
	}
}
