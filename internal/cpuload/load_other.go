//go:build !unix

package cpuload

import (
	"errors"
	"time"
)

func processCPU() (time.Duration, error) {
	return 0, errors.New("process CPU time not available on this platform")
}
