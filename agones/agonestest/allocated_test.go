package agonestest

import (
	"testing"

	"github.com/voxfleet/vox/agones"
)

func TestMarkAllocated(t *testing.T) {
	s := newTest(t)
	if s.MarkAllocated() || s.State() != agones.StateScheduled {
		t.Fatal("a Scheduled GameServer was allocated")
	}
	s.SetState(agones.StateReady)
	rv := s.GameServer().ObjectMeta.ResourceVersion
	if !s.MarkAllocated() || s.State() != agones.StateAllocated || s.GameServer().ObjectMeta.ResourceVersion == rv {
		t.Fatalf("Ready not allocated as a change: %s", s.State())
	}
	if !s.MarkAllocated() || s.State() != agones.StateAllocated {
		t.Fatal("an Allocated GameServer cannot be allocated again")
	}
	s.SetDeletionTimestamp()
	s.SetState(agones.StateReady)
	if s.MarkAllocated() {
		t.Fatal("a GameServer being deleted was allocated")
	}
}
