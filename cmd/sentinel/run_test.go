package main

import (
	"bytes"
	"os"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
	"k8s.io/klog/v2"
)

// klog's lines, such as client-go's leader election, reach the daemon's
// zap logger as entries of their own instead of text in the JSON stream.
func TestKlogGoesThroughZap(t *testing.T) {
	var text bytes.Buffer
	klog.LogToStderr(false)
	klog.SetOutput(&text)
	t.Cleanup(func() {
		klog.ClearLogger()
		klog.SetOutput(os.Stderr)
		klog.LogToStderr(true)
	})

	core, logs := observer.New(zapcore.InfoLevel)
	routeKlog(zap.New(core))
	klog.Infof("attempting to acquire leader lease %s/%s...", "sentinel", "sentinel")
	klog.ErrorS(nil, "error retrieving resource lock", "lease", "sentinel/sentinel")
	klog.Flush()

	if text.Len() > 0 {
		t.Errorf("klog still wrote text: %q", text.String())
	}
	got := logs.All()
	if len(got) != 2 {
		t.Fatalf("want 2 zap entries, got %d: %v", len(got), got)
	}
	if got[0].LoggerName != "klog" || got[0].Level != zapcore.InfoLevel ||
		got[0].Message != "attempting to acquire leader lease sentinel/sentinel..." {
		t.Errorf("first entry: %s %s %q", got[0].LoggerName, got[0].Level, got[0].Message)
	}
	if got[1].Level != zapcore.ErrorLevel || got[1].Message != "error retrieving resource lock" ||
		got[1].ContextMap()["lease"] != "sentinel/sentinel" {
		t.Errorf("second entry: %s %q %v", got[1].Level, got[1].Message, got[1].ContextMap())
	}
}
