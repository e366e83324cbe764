package charts

import (
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/sentinel-sre/sentinel/config"
)

// boundContext sets the other keys a key's bound is checked against, so
// that only the key's own limits decide: Validate keeps
// rollback.healthy.max_error_ratio below detection.threshold.
var boundContext = map[string][]string{
	"detection.threshold":              {"config.rollback.healthy.max_error_ratio=0"},
	"rollback.healthy.max_error_ratio": {"config.detection.threshold=0.9999"},
}

// A value set in the chart installs if and only if sentinel accepts it:
// each numeric key's limits are walked (just outside, at and just inside
// each), each duration that must be positive at zero and above, and
// each closed set of values with one value outside it. helm
// decides with the chart's schema; sentinel with config.Parse (as
// `sentinel check-config`) on the configuration the chart renders without
// its schema.
func TestSchemaAcceptsWhatSentinelAccepts(t *testing.T) {
	type probe struct{ key, value string }
	var probes []probe
	for key, b := range config.Bounds() {
		step := 0.001
		if schemaType(t, key) == "integer" {
			step = 1
		}
		for _, l := range []*float64{b.Minimum, b.ExclusiveMinimum, b.Maximum, b.ExclusiveMaximum} {
			if l == nil {
				continue
			}
			for _, v := range []float64{*l - step, *l, *l + step} {
				probes = append(probes, probe{key, strconv.FormatFloat(v, 'g', -1, 64)})
			}
		}
	}
	for key, values := range config.Enums() {
		for _, v := range append(slices.Clone(values), "bogus") {
			probes = append(probes, probe{key, strconv.Quote(v)})
		}
	}
	for _, key := range config.PositiveDurations() {
		values := []string{"0", "0s", "0m0.0s", "1m", "0h1m", "1m0.5s"}
		if key != "detection.rate_window" { // at least twice detection.poll_interval
			values = append(values, "1ns", "0.5s")
		}
		for _, v := range values {
			probes = append(probes, probe{key, strconv.Quote(v)})
		}
	}
	sort.Slice(probes, func(i, j int) bool {
		return probes[i].key < probes[j].key || probes[i].key == probes[j].key && probes[i].value < probes[j].value
	})
	for _, p := range probes {
		t.Run(p.key+"="+p.value, func(t *testing.T) {
			args := []string{"template", "sentinel", chartDir, "--set-json", "config." + p.key + "=" + p.value}
			for _, c := range boundContext[p.key] {
				args = append(args, "--set-json", c)
			}
			out, schemaErr := helmErr(t, args...)
			_, parseErr := config.Parse(renderedConfig(t, render(t, append(args[3:], "--skip-schema-validation")...)))
			if (schemaErr == nil) != (parseErr == nil) {
				t.Errorf("the chart's schema %s it, sentinel %s it\nhelm: %s\nsentinel: %v",
					verdict(schemaErr), verdict(parseErr), strings.TrimSpace(out), parseErr)
			}
		})
	}
	if len(probes) < 20 {
		t.Errorf("only %d probes: config.Bounds or config.Enums lost keys", len(probes))
	}
}

func verdict(err error) string {
	if err == nil {
		return "accepts"
	}
	return "refuses"
}

// schemaType is the JSON type values.schema.json gives a config key.
func schemaType(t *testing.T, key string) string {
	t.Helper()
	node := readSchema(t)["properties"].(map[string]any)["config"]
	for _, part := range strings.Split(key, ".") {
		props, _ := node.(map[string]any)["properties"].(map[string]any)
		if props == nil || props[part] == nil {
			t.Fatalf("values.schema.json has no config.%s", key)
		}
		node = props[part]
	}
	typ, _ := node.(map[string]any)["type"].(string)
	return typ
}

// Every numeric key of the configuration has its limits in config.Bounds:
// Validate refuses some value of each (zero, negative or above one), so a
// key left out would let the chart install what sentinel refuses.
func TestEveryNumericKeyIsBounded(t *testing.T) {
	var missing []string
	var walk func(reflect.Type, string)
	walk = func(typ reflect.Type, key string) {
		switch typ.Kind() {
		case reflect.Struct:
			for i := 0; i < typ.NumField(); i++ {
				name, _, _ := strings.Cut(typ.Field(i).Tag.Get("yaml"), ",")
				if name != "" && name != "-" {
					walk(typ.Field(i).Type, strings.TrimPrefix(key+"."+name, "."))
				}
			}
		case reflect.Int, reflect.Float64:
			if _, ok := config.Bounds()[key]; !ok {
				missing = append(missing, key)
			}
		}
	}
	walk(reflect.TypeOf(config.Config{}), "")
	if len(missing) > 0 {
		t.Errorf("numeric keys without config.Bounds: %v", missing)
	}
}
