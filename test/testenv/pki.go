package testenv

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	"k8s.io/client-go/util/cert"
	"k8s.io/client-go/util/keyutil"
)

// The files of DIR/pki that the components are started with.
const (
	caCert        = "ca.crt"
	apiserverCert = "apiserver.crt"
	apiserverKey  = "apiserver.key"
	saKey         = "sa.key"
	saPub         = "sa.pub"
	tokensCSV     = "tokens.csv"
	adminToken    = "admin.token"
)

// pki is what makePKI wrote: the CA the kubeconfig trusts and the admin's
// bearer token (a static token in group system:masters).
type pki struct {
	ca    []byte // PEM
	token string
}

// makePKI writes a fresh CA, the apiserver's serving certificate signed
// by it, the ServiceAccount signing key pair and the static token file
// into dir. Keys are ECDSA P-256: as good as RSA here and generated in
// microseconds.
func makePKI(dir string, now time.Time) (pki, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return pki{}, fmt.Errorf("create %s: %w", dir, err)
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return pki{}, fmt.Errorf("generate CA key: %w", err)
	}
	ca, err := cert.NewSelfSignedCACert(cert.Config{CommonName: "sentinel-testenv-ca"}, caKey)
	if err != nil {
		return pki{}, fmt.Errorf("create CA certificate: %w", err)
	}
	caPEM, err := cert.EncodeCertificates(ca)
	if err != nil {
		return pki{}, fmt.Errorf("encode CA certificate: %w", err)
	}
	if err := writeFile(dir, caCert, caPEM); err != nil {
		return pki{}, err
	}
	if err := writeServingCert(dir, ca, caKey, now); err != nil {
		return pki{}, err
	}
	if err := writeServiceAccountKeys(dir); err != nil {
		return pki{}, err
	}
	token, err := writeTokens(dir)
	if err != nil {
		return pki{}, err
	}
	return pki{ca: caPEM, token: token}, nil
}

// writeServingCert writes apiserver.crt and apiserver.key, a server
// certificate signed by ca.
func writeServingCert(dir string, ca *x509.Certificate, caKey crypto.Signer, now time.Time) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("generate apiserver key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 63))
	if err != nil {
		return fmt.Errorf("apiserver certificate serial: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "kube-apiserver"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		// Loopback, and the in-cluster names of the kubernetes Service
		// (10.0.0.1 is the first address of --service-cluster-ip-range).
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv4(10, 0, 0, 1)},
		DNSNames: []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
			"kubernetes.default.svc.cluster.local"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, key.Public(), caKey)
	if err != nil {
		return fmt.Errorf("sign apiserver certificate: %w", err)
	}
	if err := writeFile(dir, apiserverCert, pem.EncodeToMemory(&pem.Block{Type: cert.CertificateBlockType, Bytes: der})); err != nil {
		return err
	}
	return writeKey(dir, apiserverKey, key)
}

// writeServiceAccountKeys writes sa.key (the controller manager and the
// apiserver sign tokens with it) and sa.pub (the apiserver verifies).
func writeServiceAccountKeys(dir string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("generate service account key: %w", err)
	}
	if err := writeKey(dir, saKey, key); err != nil {
		return err
	}
	der, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		return fmt.Errorf("encode service account public key: %w", err)
	}
	return writeFile(dir, saPub, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// writeTokens writes the static token file (token,user,uid,"groups") with
// one admin in system:masters, and the bare token next to it.
func writeTokens(dir string) (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate admin token: %w", err)
	}
	token := hex.EncodeToString(b)
	if err := writeFile(dir, tokensCSV, []byte(token+`,admin,admin,"system:masters"`+"\n")); err != nil {
		return "", err
	}
	return token, writeFile(dir, adminToken, []byte(token+"\n"))
}

func writeKey(dir, name string, key crypto.PrivateKey) error {
	b, err := keyutil.MarshalPrivateKeyToPEM(key)
	if err != nil {
		return fmt.Errorf("encode %s: %w", name, err)
	}
	return writeFile(dir, name, b)
}

// writeFile writes dir/name readable by its owner only, through a
// temporary file so that no reader sees half of it.
func writeFile(dir, name string, b []byte) error {
	path := filepath.Join(dir, name)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
