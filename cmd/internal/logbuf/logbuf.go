// Package logbuf is the server's log writer: events are queued whole and a
// goroutine writes them in batches, so that a request does not pay a write
// system call for its access-log line, and a busy server writes many lines
// with one call.
//
// It never drops, splits or reorders a line: each Write is one event
// (zerolog writes an event with one call), copied whole into a bounded
// queue; past the bound, Write blocks until the goroutine has written some.
// Close writes everything queued, including the lines of writers blocked
// at that moment, and later Writes go straight to the sink.
package logbuf

import (
	"bufio"
	"io"
	"sync"
	"time"
)

// DefaultLimit is how many bytes may wait in the queue before Write blocks:
// some thousands of access-log lines, enough to ride out a slow pipe for a
// moment without letting a stuck reader grow the heap.
const DefaultLimit = 1 << 20

// DefaultMaxDelay is the longest a line waits in the batch buffer while the
// queue never empties; an empty queue is written at once, or after linger.
const DefaultMaxDelay = 50 * time.Millisecond

// linger is how long after a write the goroutine lets lines gather before
// the next one. A line coming after a quiet moment is written at once;
// under load (a request every few hundred microseconds, whose queue
// empties between requests) lines are written at most once per linger
// instead of one write call, and one goroutine wake-up, per request.
// A person reading the log cannot see 2 ms.
const linger = 2 * time.Millisecond

// batchSize is the buffer between the queue and the sink: one write call
// for up to this many bytes.
const batchSize = 64 << 10

// Writer is a bounded asynchronous writer of whole lines. Its methods may be
// called from any goroutine. It holds at most about twice its limit plus
// 64 KiB: the queue, the batch being written and the buffer.
type Writer struct {
	sink     io.Writer
	limit    int
	maxDelay time.Duration

	mu      sync.Mutex
	space   *sync.Cond // signalled when the queue shrinks or the drain ends
	queue   []byte     // lines waiting for the goroutine
	spare   []byte     // the goroutine's last batch, reused as the next queue
	waiting int        // writers blocked for room
	closing bool
	done    bool // the goroutine has ended: Write goes to the sink directly
	err     error

	kick     chan struct{} // wakes the goroutine: something is queued or Close
	finished chan struct{}
}

// New starts a Writer over sink holding at most limit bytes queued
// (DefaultLimit if limit <= 0). Call Close to write what is left.
func New(sink io.Writer, limit int) *Writer {
	return NewWithDelay(sink, limit, DefaultMaxDelay)
}

// NewWithDelay is New with the longest time a line waits while the queue
// never empties.
func NewWithDelay(sink io.Writer, limit int, maxDelay time.Duration) *Writer {
	if limit <= 0 {
		limit = DefaultLimit
	}
	w := &Writer{
		sink:     sink,
		limit:    limit,
		maxDelay: maxDelay,
		kick:     make(chan struct{}, 1),
		finished: make(chan struct{}),
	}
	w.space = sync.NewCond(&w.mu)
	go w.drain()
	return w
}

// Write queues p as one line. It blocks while the queue holds limit bytes;
// a line longer than limit waits for an empty queue rather than being cut.
// A write to the sink that fails loses the lines it held, as a direct
// write would have lost its line, and no more: later lines are written
// when the sink works again (a full disk that got some room). Close
// reports the sink's first error.
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for !w.done && len(w.queue) > 0 && len(w.queue)+len(p) > w.limit {
		// Wake a goroutine lingering over a full queue.
		select {
		case w.kick <- struct{}{}:
		default:
		}
		w.waiting++
		w.space.Wait()
		w.waiting--
	}
	if w.done {
		// After Close: nothing is queued, so writing now keeps the order.
		return w.sink.Write(p)
	}
	wasEmpty := len(w.queue) == 0
	w.queue = append(w.queue, p...)
	if wasEmpty {
		select {
		case w.kick <- struct{}{}:
		default:
		}
	}
	return len(p), nil
}

// Close writes every queued line, and those of writers blocked now, flushes
// and stops the goroutine. It returns the sink's first error. Writes after
// Close go to the sink directly, in order.
func (w *Writer) Close() error {
	w.mu.Lock()
	w.closing = true
	w.mu.Unlock()
	select {
	case w.kick <- struct{}{}:
	default:
	}
	<-w.finished
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// drain moves the queue into the batch buffer and writes it: at once when
// the queue is empty and nothing was written for linger, else after linger,
// and at least every maxDelay while the queue never empties.
func (w *Writer) drain() {
	defer close(w.finished)
	bw := bufio.NewWriterSize(w.sink, batchSize)
	last := time.Now()
	wait := time.NewTimer(time.Hour)
	wait.Stop()
	var wrote time.Time // the last write to the sink
	for {
		w.mu.Lock()
		batch := w.queue
		w.queue = w.spare[:0]
		w.spare = nil
		closing, waiting := w.closing, w.waiting
		if len(batch) > 0 {
			w.space.Broadcast()
		}
		if closing && len(batch) == 0 && waiting == 0 {
			// Nothing queued and nobody about to queue: from now on
			// Write goes to the sink, after everything written here.
			err := bw.Flush()
			if w.err == nil {
				w.err = err
			}
			w.done = true
			w.space.Broadcast()
			w.mu.Unlock()
			return
		}
		w.mu.Unlock()

		if len(batch) > 0 {
			var err error
			if len(batch) > bw.Available() && bw.Buffered() > 0 {
				// bufio would fill its buffer with the batch's first
				// bytes and write that, cutting a line between two
				// write calls, where another writer of the descriptor
				// (a panic's trace, an http.Server without ErrorLog)
				// may come in: write what is buffered first, so that
				// each call is whole lines.
				err = bw.Flush()
			}
			if err == nil {
				_, err = bw.Write(batch)
			}
			w.mu.Lock()
			w.failed(bw, err)
			if cap(batch) <= 2*w.limit {
				// Reused as the next queue; a line longer than the
				// bound leaves a slab not worth keeping.
				w.spare = batch[:0]
			}
			more := len(w.queue) > 0
			w.mu.Unlock()
			if more && time.Since(last) < w.maxDelay {
				continue
			}
		}
		if bw.Buffered() > 0 {
			err := bw.Flush()
			last = time.Now()
			wrote = last
			if err != nil {
				w.mu.Lock()
				w.failed(bw, err)
				w.mu.Unlock()
			}
		}
		if len(batch) > 0 || closing {
			continue
		}
		<-w.kick
		if d := linger - time.Since(wrote); d > 0 {
			// Written a moment ago: let the lines of the next requests
			// join this one. Close, or a writer waiting for room, kicks
			// again and ends the wait.
			wait.Reset(d)
			select {
			case <-wait.C:
			case <-w.kick:
				wait.Stop() // since Go 1.23 no stale tick is left in C
			}
		}
		last = time.Now()
	}
}

// failed records err, if not nil, for Close and clears bw, whose error
// would otherwise stick and refuse every later line: what bw held is
// lost, what comes next is written. w.mu is held.
func (w *Writer) failed(bw *bufio.Writer, err error) {
	if err == nil {
		return
	}
	if w.err == nil {
		w.err = err
	}
	bw.Reset(w.sink)
}
