package main

import (
	"math"
	"testing"
)

// The density the summary states comes from the ramp's highest step held:
// 600 talking at 0.18 server cores; the next step's generator saturated.
func TestRampDensity(t *testing.T) {
	rec := load(t, "hand")
	rd, ok := ComputeRampDensity(rec.Ramp["aes_cm_80"])
	if !ok {
		t.Fatal("no ramp density")
	}
	if rd.Talking != 600 || rd.Cores != 0.18 || math.Abs(rd.PerCore-600/0.18) > 1e-9 || rd.Limit != "generator" {
		t.Fatalf("ramp density %+v", rd)
	}
	if _, ok := ComputeRampDensity(nil); ok {
		t.Error("density without a ramp")
	}
	if _, ok := ComputeRampDensity(&Ramp{Steps: []RampStep{{Sessions: 10}}}); ok {
		t.Error("density without a held step")
	}
}

func TestParseMix(t *testing.T) {
	rec := load(t, "hand")
	row, ok := ParseMixBench(rec.MixBench[4], 4)
	if !ok || row.NsPerFrame.Median != 1.5e6 || row.RoomsPerCore.Median != 13.33 || row.RoomsPerCore.N != 3 {
		t.Fatalf("mix row %+v ok %v", row, ok)
	}
	if _, ok := ParseMixBench(rec.MixBench[4], 8); ok {
		t.Error("rooms of 8 parsed from rooms of 4's output")
	}
	dec, enc, cr, rest, ok := ParseMixProfile(rec.MixProf[4])
	if !ok || math.Abs(dec-20) > 1e-9 || math.Abs(enc-60) > 1e-9 || math.Abs(cr-7) > 1e-9 || math.Abs(rest-13) > 1e-9 {
		t.Fatalf("split decode %v encode %v crypto %v rest %v ok %v", dec, enc, cr, rest, ok)
	}
	if _, _, _, _, ok := ParseMixProfile("nonsense\n"); ok {
		t.Error("split from nonsense")
	}
	for in, want := range map[string]float64{"1.5s": 1.5, "450ms": 0.45, "12us": 12e-6} {
		if v, err := parseSeconds(in); err != nil || math.Abs(v-want) > 1e-12 {
			t.Errorf("parseSeconds(%q) = %v, %v", in, v, err)
		}
	}
}

func TestRenderIssue16(t *testing.T) {
	doc := render(t, "hand")
	wantLines(t, doc,
		// The summary's density: the ramp's highest step held, the server's own CPU.
		"the ramp's highest step held (30,000 packets/s in): 600 talking ÷ 0.1800 server cores = **3,333 talking participants per core**, at or above the aim of 3,000; the next step failed with **the generator** saturated or late",
		// Smooth-driven C reference: voxd's 6.75 ÷ 6.00; the core's 7.50 ÷ 6.00.
		"| AES_CM_128_HMAC_SHA1_80 | 6.75 (6.25–7.50) | 40,000 | 6.00 (5.90–6.10) | 7.50 (7.40–7.60) | 78,000 | **1.12** | 1.25 |",
		// Coalescing: medians of 2 repetitions, on ÷ off.
		"### Receive coalescing on and off",
		"| AES_CM_128_HMAC_SHA1_80 | 100 | 20,000 | 15.20 (15.00–15.40) | 20.50 (20.00–21.00) | **0.74** | 710 µs (700 µs–720 µs) | 650 µs (640 µs–660 µs) | 14.2 (14.0–14.4) / 4.1 (4.0–4.2) | 0.000 / 0.000 |",
		"| AES_CM_128_HMAC_SHA1_80 | 300 | 60,000 | 10.20 (10.00–10.40) | 13.50 (13.00–14.00) | **0.76** |",
		"[coalesce-aes_cm_80-s300-off-r1.json](perf/test/coalesce-aes_cm_80-s300-off-r1.json)",
		// Mix mode: rooms per core and the split (of the benchmark's 6.00 s).
		"| 4, all talking | 1,500 (1,400–1,600) µs | **13.3 (12.5–14.3)** | 20 % | 13 % | 60 % | 7 % |",
		"[mixprof-m4.txt](perf/test/mixprof-m4.txt)",
	)
	// Without the new files, each part says so.
	wantLines(t, render(t, "partial"),
		"Receive coalescing (voxd `--rx-coalesce`): not measured.",
		"Mix mode: not measured",
	)
}
