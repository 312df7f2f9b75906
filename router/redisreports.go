package router

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/voxfleet/vox/api"
)

// ShareReport implements ReportShare (scriptShare): the report, its
// receive time and its load go to the pod's hash, which expires
// ReportTTL after the pod's last report.
func (s *RedisStore) ShareReport(ctx context.Context, rep api.PodReport, received time.Time) error {
	body, err := json.Marshal(rep)
	if err != nil {
		return fmt.Errorf("redis: encode a report: %w", err)
	}
	err = scriptShare.Run(ctx, s.c, []string{s.keyPod, s.reportKey(rep.Name)},
		rep.Name, rep.Instance, rep.Seq, received.UnixMilli(),
		len(rep.Sessions), rep.Participants, rep.Limits.MaxSessions, rep.Limits.MaxParticipants,
		body, s.cfg.ReportTTL.Milliseconds()).Err()
	return s.fail(ctx, "share report", err)
}

// SharedReports implements ReportShare: the pods' names, then in one
// pipeline each one's instance and seq, then in another the reports the
// caller lacks.
func (s *RedisStore) SharedReports(ctx context.Context, have func(pod string) (string, uint64, bool)) ([]SharedReport, error) {
	names, err := s.c.SMembers(ctx, s.keyPod).Result()
	if err := s.fail(ctx, "shared reports", err); err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return nil, nil
	}
	heads := make([]*redis.SliceCmd, len(names))
	_, err = s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, n := range names {
			heads[i] = p.HMGet(ctx, s.reportKey(n), "instance", "seq")
		}
		return nil
	})
	if err := s.fail(ctx, "shared reports", err); err != nil {
		return nil, err
	}
	var want []string
	gone := false
	for i, n := range names {
		v := heads[i].Val()
		inst, _ := v[0].(string)
		seqStr, _ := v[1].(string)
		if inst == "" {
			gone = true // expired: the pod is silent
			continue
		}
		seq, _ := strconv.ParseUint(seqStr, 10, 64)
		if hi, hs, ok := have(n); ok && hi == inst && hs >= seq {
			continue
		}
		want = append(want, n)
	}
	if gone {
		if err := scriptPrunePods.Run(ctx, s.c, []string{s.keyPod}, s.cfg.Prefix+"pod:").Err(); err != nil {
			s.log.Debug("redis: prune the pods set", "err", err)
		}
	}
	if len(want) == 0 {
		return nil, nil
	}
	bodies := make([]*redis.SliceCmd, len(want))
	_, err = s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, n := range want {
			bodies[i] = p.HMGet(ctx, s.reportKey(n), "report", "received_ms")
		}
		return nil
	})
	if err := s.fail(ctx, "shared reports", err); err != nil {
		return nil, err
	}
	out := make([]SharedReport, 0, len(want))
	for i, n := range want {
		v := bodies[i].Val()
		body, _ := v[0].(string)
		msStr, _ := v[1].(string)
		if body == "" {
			continue // expired meanwhile
		}
		var sr SharedReport
		if err := json.Unmarshal([]byte(body), &sr.Report); err != nil || sr.Report.Name != n {
			s.log.Warn("redis: a shared report cannot be read", "pod", n, "err", err)
			continue
		}
		ms, _ := strconv.ParseInt(msStr, 10, 64)
		sr.Received = time.UnixMilli(ms)
		out = append(out, sr)
	}
	return out, nil
}
