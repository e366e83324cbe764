package testenv

import (
	"crypto/ecdsa"
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/client-go/util/cert"
	"k8s.io/client-go/util/keyutil"
)

func TestMakePKI(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	p, err := makePKI(dir, now)
	if err != nil {
		t.Fatal(err)
	}
	roots, err := cert.NewPool(filepath.Join(dir, caCert))
	if err != nil {
		t.Fatal(err)
	}
	cas, err := cert.CertsFromFile(filepath.Join(dir, caCert))
	if err != nil {
		t.Fatal(err)
	}
	// The CA's validity starts at the library's own clock.
	at := cas[0].NotBefore.Add(time.Minute)
	certs, err := cert.CertsFromFile(filepath.Join(dir, apiserverCert))
	if err != nil {
		t.Fatal(err)
	}
	// The names clients use, in and out of the cluster, all verify.
	for _, name := range []string{"127.0.0.1", "localhost", "10.0.0.1", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"} {
		_, err := certs[0].Verify(x509.VerifyOptions{DNSName: name, Roots: roots, CurrentTime: at,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
		if err != nil {
			t.Errorf("apiserver certificate for %s: %v", name, err)
		}
	}
	if _, err := certs[0].Verify(x509.VerifyOptions{DNSName: "example.com", Roots: roots, CurrentTime: at}); err == nil {
		t.Error("apiserver certificate verifies for example.com")
	}

	// The ServiceAccount keys are one pair.
	key, err := keyutil.PrivateKeyFromFile(filepath.Join(dir, saKey))
	if err != nil {
		t.Fatal(err)
	}
	pubs, err := keyutil.PublicKeysFromFile(filepath.Join(dir, saPub))
	if err != nil {
		t.Fatal(err)
	}
	if !key.(*ecdsa.PrivateKey).PublicKey.Equal(pubs[0]) {
		t.Error("sa.pub is not sa.key's public key")
	}

	tokens, err := os.ReadFile(filepath.Join(dir, tokensCSV))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(p.token+`,admin,admin,"system:masters"`+"\n", string(tokens)); diff != "" {
		t.Errorf("tokens.csv (-want +got):\n%s", diff)
	}
	if len(p.token) != 64 {
		t.Errorf("admin token %q: want 64 hex digits", p.token)
	}
	for _, f := range []string{caCert, apiserverCert, apiserverKey, saKey, saPub, tokensCSV, adminToken} {
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", f, fi.Mode().Perm())
		}
	}
	if !strings.Contains(string(p.ca), "BEGIN CERTIFICATE") {
		t.Errorf("CA for the kubeconfig is not PEM: %q", p.ca)
	}
}
