package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"github.com/sentinel-sre/sentinel/test/promenv"
)

// openPTY opens a pseudo-terminal: what is written to tty is read from
// the returned reader.
func openPTY(t *testing.T) (tty *os.File, read func() string) {
	t.Helper()
	ptmx, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	var n, unlock uint32
	ioctl := func(req uintptr, arg *uint32) {
		if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, ptmx.Fd(), req, uintptr(unsafe.Pointer(arg))); e != 0 {
			t.Skipf("pseudo-terminal: %v", e)
		}
	}
	ioctl(syscall.TIOCSPTLCK, &unlock)
	ioctl(syscall.TIOCGPTN, &n)
	tty, err = os.OpenFile("/dev/pts/"+strconv.Itoa(int(n)), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	var got bytes.Buffer
	done := make(chan struct{})
	go func() { // drained as written: a full terminal would block the writer
		defer close(done)
		_, _ = io.Copy(&got, ptmx)
	}()
	return tty, func() string {
		tty.Close()
		<-done
		ptmx.Close()
		return got.String()
	}
}

// TestBacktestProgressOnATerminal: on a terminal the bar is drawn
// without being asked.
func TestBacktestProgressOnATerminal(t *testing.T) {
	dir := filepath.Join(promenv.RepoRoot(t), "examples", "mli-6574")
	cfg, _ := fakeDatadog(t, dir)
	tty, read := openPTY(t)
	var out bytes.Buffer
	root := newRoot(&out, tty)
	root.SetArgs([]string{"backtest", "--datadog", "--config", cfg, "--from", "2026-04-24T23:20:00Z", "--to", "2026-04-25T01:00:00Z",
		"--objects", filepath.Join(dir, "objects.yaml")})
	err := root.ExecuteContext(t.Context())
	stderr := read()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stderr, "\rpolls ") || !strings.Contains(stderr, "/401)") {
		t.Errorf("no progress bar on the terminal:\n%q", stderr)
	}
}
