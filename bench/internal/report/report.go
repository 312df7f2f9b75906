// Package report holds what the bench programs that write reports
// (netcompare, perfdoc) share: the median of repetitions and writing an
// output file so a reader never sees half of it.
package report

import (
	"math"
	"os"
	"path/filepath"
	"sort"
)

// Median of xs (mean of the middle two for an even count; NaN if empty).
// xs is not modified.
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	v := append([]float64(nil), xs...)
	sort.Float64s(v)
	n := len(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}

// WriteFileAtomic writes data to path through a temporary file beside it
// and a rename, creating the directory if needed.
func WriteFileAtomic(path string, data []byte) error {
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
