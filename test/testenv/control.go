package testenv

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"time"
)

// The supervisor (cmd/testenv's up and exec) answers on DIR/control.sock,
// so that a test, or `testenv.sh restart-apiserver DIR`, can have a
// component restarted by the process that owns it: a component started
// by a short-lived helper would die with it.

// maxSocketPath is the kernel's limit for a unix socket's path (sun_path).
const maxSocketPath = 107

// Listen opens DIR/control.sock, for Serve.
func (e *Env) Listen(ctx context.Context) (net.Listener, error) {
	path := e.path(socketFile)
	if len(path) > maxSocketPath {
		return nil, fmt.Errorf("control socket %s: path longer than %d bytes; use a shorter DIR", path, maxSocketPath)
	}
	var lc net.ListenConfig
	l, err := lc.Listen(ctx, "unix", path)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	return l, nil
}

// Serve answers on l (from Listen) until ctx ends: POST /restart/NAME
// restarts a component; POST /freeze/NAME and /thaw/NAME send
// it SIGSTOP and SIGCONT; POST /stop stops the environment, answers once
// everything is down, then calls stopped. Requests under way when ctx
// ends are answered before Serve returns.
func (e *Env) Serve(ctx context.Context, l net.Listener, stopped func()) error {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	mux.HandleFunc("POST /restart/{name}", func(w http.ResponseWriter, r *http.Request) {
		if err := e.Restart(r.Context(), r.PathValue("name")); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		_, _ = io.WriteString(w, "ok\n")
	})
	for verb, f := range map[string]func(string) error{"freeze": e.Freeze, "thaw": e.Thaw} {
		mux.HandleFunc("POST /"+verb+"/{name}", func(w http.ResponseWriter, r *http.Request) {
			if err := f(r.PathValue("name")); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			_, _ = io.WriteString(w, "ok\n")
		})
	}
	mux.HandleFunc("POST /stop", func(w http.ResponseWriter, _ *http.Request) {
		if err := e.Stop(); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		} else {
			_, _ = io.WriteString(w, "ok\n")
		}
		stopped()
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*stopGrace)
		defer cancel()
		done <- srv.Shutdown(sctx)
	}()
	if err := srv.Serve(l); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve %s: %w", l.Addr(), err)
	}
	return <-done
}

// Restart asks the supervisor of the environment in dir to restart one
// component (etcd, kube-apiserver, kube-controller-manager, prometheus)
// on the same ports and data, and returns once it is ready again.
func Restart(ctx context.Context, dir, name string) error {
	return call(ctx, dir, http.MethodPost, "/restart/"+name)
}

// Freeze asks the supervisor of the environment in dir to stop one
// component with SIGSTOP; Thaw resumes it (SIGCONT).
func Freeze(ctx context.Context, dir, name string) error {
	return call(ctx, dir, http.MethodPost, "/freeze/"+name)
}

// Thaw resumes a component Freeze stopped.
func Thaw(ctx context.Context, dir, name string) error {
	return call(ctx, dir, http.MethodPost, "/thaw/"+name)
}

// Shutdown asks the supervisor of the environment in dir to stop it, and
// returns once everything is down.
func Shutdown(ctx context.Context, dir string) error { return call(ctx, dir, http.MethodPost, "/stop") }

// Running reports whether a supervisor answers for dir.
func Running(ctx context.Context, dir string) bool {
	return call(ctx, dir, http.MethodGet, "/healthz") == nil
}

func call(ctx context.Context, dir, method, path string) error {
	sock := filepath.Join(dir, socketFile)
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, method, "http://testenv"+path, nil)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return fmt.Errorf("ask the test environment in %s (%s %s): %w", dir, method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("test environment in %s, %s %s: %s", dir, method, path, strings.TrimSpace(string(b)))
	}
	return nil
}
