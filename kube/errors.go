package kube

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/sentinel-sre/sentinel/rollback"
)

// retryable wraps err in a *rollback.RetryableError when it may pass if
// tried again: the API server timed out, was unreachable or lost the
// connection, answered 5xx, or asked to slow down (429). A conflict is
// handled inside an attempt; a refusal, a Forbidden or a validation error
// is final.
func retryable(err error) error {
	if err == nil || errors.Is(err, context.Canceled) {
		return err
	}
	var netErr net.Error
	switch {
	case apierrors.IsServerTimeout(err), apierrors.IsTimeout(err), apierrors.IsTooManyRequests(err),
		apierrors.IsInternalError(err), apierrors.IsServiceUnavailable(err), apierrors.IsUnexpectedServerError(err),
		errors.Is(err, context.DeadlineExceeded), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.As(err, &netErr),
		strings.Contains(err.Error(), "http2: client connection lost"):
		return &rollback.RetryableError{Err: err}
	}
	if status, ok := err.(apierrors.APIStatus); ok && status.Status().Code >= 500 {
		return &rollback.RetryableError{Err: err}
	}
	return err
}
