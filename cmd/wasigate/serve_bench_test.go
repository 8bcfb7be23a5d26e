package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// countingFile is a log sink that is a real file (each Write a system
// call) and counts the calls.
type countingFile struct {
	f      *os.File
	writes atomic.Int64
}

func (c *countingFile) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.f.Write(p)
}

// BenchmarkServeHTTP is a request to hello.wasm through the whole server
// serve runs, its log going to /dev/null: allocations per request and the
// log's write calls per request (logwrites/op), one client at a time and
// several at once.
func BenchmarkServeHTTP(b *testing.B) {
	dir := b.TempDir()
	hello, err := filepath.Abs(filepath.Join(guestsDir, "hello.wasm"))
	if err != nil {
		b.Fatal(err)
	}
	cfg := filepath.Join(dir, "wasigate.toml")
	text := fmt.Sprintf("cache_dir = %q\n[[route]]\npath = \"/hello\"\nmodule = %q\n", filepath.Join(dir, "cache"), hello)
	if err := os.WriteFile(cfg, []byte(text), 0o644); err != nil {
		b.Fatal(err)
	}
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer null.Close()
	sink := &countingFile{f: null}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, "127.0.0.1:0", io.Discard, sink, ready) }()
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			b.Error("serve did not stop")
		}
	}()
	var url string
	select {
	case addr := <-ready:
		url = "http://" + addr + "/hello"
	case err := <-done:
		b.Fatalf("serve: %v", err)
	case <-time.After(60 * time.Second):
		b.Fatal("serve not ready within 60s")
	}
	get := func(client *http.Client) {
		res, err := client.Get(url)
		if err != nil {
			b.Fatal(err)
		}
		body, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil || res.StatusCode != http.StatusOK || string(body) != "hello\n" {
			b.Fatalf("status %d body %q err %v; want 200 hello", res.StatusCode, body, err)
		}
	}
	// Let the goroutine write what startup logged before counting.
	time.Sleep(100 * time.Millisecond)

	b.Run("serial", func(b *testing.B) {
		client := &http.Client{Transport: &http.Transport{}}
		before := sink.writes.Load()
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			get(client)
		}
		b.StopTimer()
		time.Sleep(100 * time.Millisecond)
		b.ReportMetric(float64(sink.writes.Load()-before)/float64(b.N), "logwrites/op")
	})
	b.Run("parallel", func(b *testing.B) {
		tr := &http.Transport{MaxIdleConnsPerHost: 64}
		before := sink.writes.Load()
		b.ReportAllocs()
		b.SetParallelism(4)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			client := &http.Client{Transport: tr}
			for pb.Next() {
				get(client)
			}
		})
		b.StopTimer()
		time.Sleep(100 * time.Millisecond)
		b.ReportMetric(float64(sink.writes.Load()-before)/float64(b.N), "logwrites/op")
	})
}
