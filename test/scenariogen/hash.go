package scenariogen

import (
	"fmt"
	"hash/fnv"
	"strconv"
)

// splitmix64's finaliser: a stateless, well-mixed 64-bit hash. Noise drawn
// from it depends only on its inputs, so it is the same on every platform
// and Go release, and each pod's series can be computed independently.
func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// mix hashes a seed and three values.
func mix(seed, a, b, c uint64) uint64 {
	return splitmix(splitmix(splitmix(seed^a)^b) ^ c)
}

func hashString(s string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	return h.Sum64()
}

// alphanums is Kubernetes' alphabet for generated names (no vowels, no
// look-alike characters), from k8s.io/apimachinery/pkg/util/rand.
const alphanums = "bcdfghjklmnpqrstvwxz2456789"

// safeEncode writes n characters of alphanums drawn from h, like the
// random suffix of a pod name.
func safeEncode(h uint64, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = alphanums[h%uint64(len(alphanums))]
		h /= uint64(len(alphanums))
	}
	return string(b)
}

// safeEncodeDecimal is rand.SafeEncodeString(fmt.Sprint(v)), which is how
// the Deployment controller spells a pod-template-hash.
func safeEncodeDecimal(v uint32) string {
	b := []byte(strconv.FormatUint(uint64(v), 10))
	for i, c := range b {
		b[i] = alphanums[int(c)%len(alphanums)]
	}
	return string(b)
}

// uid makes a stable UUID-shaped identifier for an object.
func uid(seed uint64, kind, namespace, name string) string {
	a := mix(seed, hashString(kind), hashString(namespace), hashString(name))
	b := splitmix(a)
	return fmt.Sprintf("%08x-%04x-%04x-%04x-%012x", a>>32, (a>>16)&0xffff, 0x4000|(a&0x0fff),
		0x8000|(b>>48)&0x3fff, b&0xffffffffffff)
}
