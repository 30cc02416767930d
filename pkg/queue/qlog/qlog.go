// Package qlog is a queue shard's local message store: an append-only log
// of records in segment files, made durable one group at a time (one write
// and one fdatasync per Append), replayed on open, and kept bounded by the
// live data (segments without live records are unlinked; segments with few
// live records among many dead ones have their live records rewritten
// forward; an active segment that sparse is rolled early, from
// Options.EarlyRollBytes on, so that a drained log keeps less than that).
//
// It is the single-server store behind pkg/queue's commit loop: the
// embedded etcd cannot be joined by other replicas, so the messages were
// on one disk anyway, and a file append plus a share of one fdatasync is
// far cheaper than an etcd transaction (raft, WAL, MVCC index, bbolt).
//
// Record framing (little endian):
//
//	u32 length of payload | u32 CRC-32C of payload | payload
//	payload: kind u8 | uvarint len + queue id | uvarint len + id | data
//
// Records: Send (data: the message as stored today), Delete (tombstone of
// the message id), Dedup (data: u64 expiry in unix ms + message id),
// DedupDelete, Purge (every message of the queue before it) and DropQueue
// (every record of the queue before it).
//
// Liveness: a record is live until a later record kills it (a tombstone, a
// newer record with the same key, a purge or a drop). A segment holding a
// record that killed a record of an older segment is pinned until that older
// segment is gone: unlinking it first would bring the killed record back on
// replay. The oldest segment is never pinned, so compaction proceeds oldest
// first.
//
//	l, err := qlog.Open(dir, qlog.Options{}, func(r *qlog.Record) { ... }) // live records, in log order
//	err = l.Append([]qlog.Record{{Kind: qlog.Send, Queue: qid, ID: id, Data: msg}})
package qlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// Kind says what a record is.
type Kind uint8

// Record kinds.
const (
	Send Kind = iota + 1
	Delete
	Dedup
	DedupDelete
	Purge
	DropQueue
)

// Record is one entry of the log.
type Record struct {
	Kind  Kind
	Queue string // the queue's id
	ID    string // message id (Send, Delete) or deduplication key (Dedup, DedupDelete)
	// Data is the encoded message (Send).
	Data []byte
	// DedupMessageID and DedupExpiresMs describe a Dedup record.
	DedupMessageID string
	DedupExpiresMs int64

	// bound, for a kill record rewritten forward by compaction: it kills
	// only records before where it was first written (a record written
	// later with the same key stays).
	bound    pos
	hasBound bool
}

// Options configure a Log.
type Options struct {
	// SegmentBytes is the size at which the active segment is rolled
	// (default 64 MiB).
	SegmentBytes int64
	// CompactBelow: a closed segment whose live bytes are below this
	// fraction of its size gets its live records rewritten forward (default
	// 0.25).
	CompactBelow float64
	// EarlyRollBytes: an active segment at least this big is rolled early
	// when it is as sparse as CompactBelow says (all dead, in a drained
	// shard), so that it is unlinked or compacted like a closed one
	// (default 1 MiB). Without it the dead records of a drained shard's
	// active segment would stay until SegmentBytes of new traffic rolled
	// it: 16 shards x 64 MiB of nothing. Each early roll costs a file
	// creation and two directory fsyncs per EarlyRollBytes written.
	EarlyRollBytes int64
	// PreallocBytes: the active segment's file is extended this much at a
	// time ahead of its writes, with written zeros (zeroFill; default 256
	// KiB; negative: never). An append then overwrites blocks the file
	// already has, so its fdatasync flushes the data without a change of
	// the file's size or extents to journal (measured in docs/benchmarks.md:
	// fallocate's unwritten extents saved a fifth of the CPU per fdatasync,
	// written zeros save most of the rest). The zeros past the last group are what a torn
	// tail looks like, and are cut off on replay; a segment is cut to its
	// data before the next one is created, so only the newest can have them.
	PreallocBytes int64
}

// ErrCorrupt is wrapped by the error Open returns for a damaged record
// that is not a torn tail.
var ErrCorrupt = errors.New("qlog: corrupt segment")

// ErrBroken is returned by Append after a write or sync failed and could
// not be undone: the log refuses further appends rather than guess.
var ErrBroken = errors.New("qlog: a write to the log failed earlier; reopen it")

const (
	headerLen = 8
	// maxRecord bounds one record (a message is at most 1 MiB plus
	// attributes; anything larger is damage, not data).
	maxRecord = 16 << 20
	// maxGroup bounds one Append's group.
	maxGroup  = 1 << 30
	segSuffix = ".seg"
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// pos is where a live record is.
type pos struct {
	seg int64
	off int64
	n   int64 // framed length
}

func (p pos) before(q pos) bool { return p.seg < q.seg || p.seg == q.seg && p.off < q.off }

type qindex struct {
	msgs  map[string]pos
	dedup map[string]pos
}

type segment struct {
	seq       int64
	size      int64
	alloc     int64 // the active segment's file size: size, plus space preallocated past it (zeros)
	live      int
	liveBytes int64
	pinned    int           // kills in this segment of records of older segments still present
	refs      map[int64]int // segment → how many of this segment's records it killed
	// kills: older segment → offsets of the records here that killed
	// records there (one entry per killed record), what compaction must
	// carry forward while that segment exists.
	kills map[int64][]int64
}

func newSeg(seq int64) *segment {
	return &segment{seq: seq, refs: map[int64]int{}, kills: map[int64][]int64{}}
}

// Log is one shard's segment log. Its methods are safe for concurrent use.
type Log struct {
	dir  string
	opts Options

	mu     sync.Mutex
	segs   map[int64]*segment
	active *segment
	f      *os.File
	queues map[string]*qindex
	buf    []byte
	broken error
	stats  Stats
}

// Stats are counters of a Log.
type Stats struct {
	Appends   int64 // Append calls that wrote (one write and one fdatasync each)
	Records   int64
	Bytes     int64 // framed bytes written by appends
	Compacted int64 // segments rewritten forward
	// EarlyRolls counts active segments rolled before SegmentBytes because
	// they were sparse (Options.EarlyRollBytes).
	EarlyRolls int64
	Unlinked   int64 // segments removed
	Segments   int   // segment files now
	DiskBytes  int64 // their total size
	LiveBytes  int64
}

// Open opens (creating) the log in dir, replays it and calls live for each
// live record, Sends and Dedups, in log order. A torn tail of the newest
// segment (a group whose write never completed) is truncated; damage
// anywhere else is an error naming the file and offset. A record's Data is
// only valid during the call to live.
func Open(dir string, opts Options, live func(*Record)) (*Log, error) {
	if opts.SegmentBytes <= 0 {
		opts.SegmentBytes = 64 << 20
	}
	if opts.CompactBelow <= 0 {
		opts.CompactBelow = 0.25
	}
	if opts.EarlyRollBytes <= 0 {
		opts.EarlyRollBytes = 1 << 20
	}
	if opts.PreallocBytes == 0 {
		opts.PreallocBytes = 256 << 10
	}
	// The directories MkdirAll makes must be durable in their parents
	// before anything in them is acknowledged: a power loss could otherwise
	// take a new log directory, segments and all.
	var created []string
	for p := filepath.Clean(dir); ; p = filepath.Dir(p) {
		if _, err := os.Lstat(p); err == nil || filepath.Dir(p) == p {
			break
		}
		created = append(created, p)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("qlog: create %s: %w", dir, err)
	}
	for _, p := range created {
		if err := dirSync(filepath.Dir(p)); err != nil {
			return nil, err
		}
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, fmt.Errorf("qlog: %w", err)
	}
	l := &Log{dir: dir, opts: opts, segs: map[int64]*segment{}, queues: map[string]*qindex{}}
	seqs, err := l.list()
	if err != nil {
		return nil, err
	}
	// Pass 1 builds the index (positions only); pass 2 reads the segments
	// again, one at a time, and hands over what is still live, so a long
	// history is never all in memory at once.
	for i, seq := range seqs {
		s := newSeg(seq)
		l.segs[seq] = s
		if err := l.replaySegment(s, i == len(seqs)-1); err != nil {
			return nil, err
		}
	}
	if live != nil {
		if err := l.emitLive(live); err != nil {
			return nil, err
		}
	}
	var next int64 = 1
	if len(seqs) > 0 {
		last := l.segs[seqs[len(seqs)-1]]
		if last.size < opts.SegmentBytes {
			if err := l.openActive(last); err != nil {
				return nil, err
			}
		} else {
			// It stays closed: its length must be durable before a newer
			// segment is. Close cut its preallocated zeros without a
			// sync, and a power loss could bring them back at the end of
			// what is then an older segment (damage on replay).
			if err := syncFile(l.path(last.seq)); err != nil {
				return nil, fmt.Errorf("qlog: sync %s before rolling past it: %w", l.path(last.seq), err)
			}
			next = last.seq + 1
		}
	}
	if l.active == nil {
		if len(seqs) > 0 {
			next = seqs[len(seqs)-1] + 1
		}
		if err := l.newSegment(next); err != nil {
			return nil, err
		}
	}
	l.reclaim()
	return l, nil
}

func segName(seq int64) string { return fmt.Sprintf("%016x%s", seq, segSuffix) }

func (l *Log) path(seq int64) string { return filepath.Join(l.dir, segName(seq)) }

// list returns the segment numbers in dir, oldest first.
func (l *Log) list() ([]int64, error) {
	ents, err := os.ReadDir(l.dir)
	if err != nil {
		return nil, fmt.Errorf("qlog: read %s: %w", l.dir, err)
	}
	var seqs []int64
	for _, e := range ents {
		n := e.Name()
		if !strings.HasSuffix(n, segSuffix) {
			continue
		}
		seq, err := strconv.ParseInt(strings.TrimSuffix(n, segSuffix), 16, 64)
		if err != nil {
			continue
		}
		seqs = append(seqs, seq)
	}
	sort.Slice(seqs, func(i, j int) bool { return seqs[i] < seqs[j] })
	return seqs, nil
}

// replaySegment reads one segment into the index. Only the newest segment
// may end in a torn group (a write that never completed, so never
// acknowledged), which is cut off; a damaged group followed by a good one
// is damage to acknowledged data, and an error.
func (l *Log) replaySegment(s *segment, last bool) error {
	name := l.path(s.seq)
	b, err := os.ReadFile(name)
	if err != nil {
		return fmt.Errorf("qlog: read %s: %w", name, err)
	}
	var off int64
	for off < int64(len(b)) {
		end, gerr := groupAt(b, off)
		if gerr != nil {
			if last && !goodGroupAfter(b, off) {
				if err := cutTail(name, off); err != nil {
					return fmt.Errorf("qlog: cut the torn tail of %s at offset %d: %w", name, off, err)
				}
				break
			}
			why := "good data follows it in this file"
			if !last {
				why = "newer segments follow this file"
			}
			return fmt.Errorf("%w: %s: group at offset %d: %v; %s, so this is not a torn tail and the log refuses to guess: restore the data dir from a backup, or move this file aside to drop its records", ErrCorrupt, name, off, gerr, why)
		}
		for roff := off + headerLen; roff < end; {
			r, n, err := decodeAt(b[:end], roff)
			if err != nil {
				return fmt.Errorf("%w: %s: record at offset %d: %v", ErrCorrupt, name, roff, err)
			}
			l.apply(r, pos{seg: s.seq, off: roff, n: n})
			roff += n
		}
		off = end
	}
	s.size = off
	return nil
}

// emitLive calls live for every live record, in log order.
func (l *Log) emitLive(live func(*Record)) error {
	bySeg := map[int64][]pos{}
	for _, qi := range l.queues {
		for _, p := range qi.msgs {
			bySeg[p.seg] = append(bySeg[p.seg], p)
		}
		for _, p := range qi.dedup {
			bySeg[p.seg] = append(bySeg[p.seg], p)
		}
	}
	seqs := make([]int64, 0, len(bySeg))
	for seq := range bySeg {
		seqs = append(seqs, seq)
	}
	sort.Slice(seqs, func(i, j int) bool { return seqs[i] < seqs[j] })
	for _, seq := range seqs {
		ps := bySeg[seq]
		sort.Slice(ps, func(i, j int) bool { return ps[i].off < ps[j].off })
		name := l.path(seq)
		b, err := os.ReadFile(name)
		if err != nil {
			return fmt.Errorf("qlog: read %s: %w", name, err)
		}
		for _, p := range ps {
			r, _, err := decodeAt(b, p.off)
			if err != nil {
				return fmt.Errorf("%w: %s: record at offset %d: %v", ErrCorrupt, name, p.off, err)
			}
			live(r)
		}
	}
	return nil
}

// groupAt checks the group (one Append) at off and returns where it ends.
func groupAt(b []byte, off int64) (int64, error) {
	rest := b[off:]
	if len(rest) < headerLen {
		return 0, errors.New("truncated group header")
	}
	n := int64(binary.LittleEndian.Uint32(rest))
	if n == 0 || n > maxGroup {
		return 0, fmt.Errorf("impossible group length %d", n)
	}
	if int64(len(rest)) < headerLen+n {
		return 0, fmt.Errorf("group of %d bytes runs past the end of the file", n)
	}
	if crc32.Checksum(rest[headerLen:headerLen+n], crcTable) != binary.LittleEndian.Uint32(rest[4:]) {
		return 0, errors.New("checksum mismatch")
	}
	return off + headerLen + n, nil
}

// goodGroupAfter reports whether the bad group at off is damage rather
// than a torn tail: its records are all there (only its header is bad), or
// a valid group follows it (skipping by the bad group's length where that
// is plausible). After a zero header, see zeroHeaderIsDamage; after an
// impossible one only zeros are a torn tail, other bytes are damage.
func goodGroupAfter(b []byte, off int64) bool {
	for {
		rest := b[off:]
		if len(rest) < headerLen {
			return false
		}
		n := int64(binary.LittleEndian.Uint32(rest))
		if n == 0 {
			return zeroHeaderIsDamage(b, off)
		}
		if n > maxGroup {
			for _, c := range rest {
				if c != 0 {
					return true
				}
			}
			return false
		}
		// A torn write leaves a prefix of the group. If its records are
		// all here (they add up to the group's checksum), the header's
		// length is what is damaged, and the group was acknowledged.
		want := binary.LittleEndian.Uint32(rest[4:])
		var sum uint32
		for p := off + headerLen; p < int64(len(b)); {
			_, rn, err := decodeAt(b, p)
			if err != nil {
				break
			}
			sum = crc32.Update(sum, crcTable, b[p:p+rn])
			p += rn
			// Or they fill exactly the length the header gives (then
			// its checksum is what is damaged).
			if sum == want || p == off+headerLen+n {
				return true
			}
		}
		next := off + headerLen + n
		if next >= int64(len(b)) {
			return false
		}
		if _, err := groupAt(b, next); err == nil {
			return true
		}
		off = next
	}
}

// zeroHeaderIsDamage reports whether the zero group header at off (in the
// newest segment) hides acknowledged data. Zeros there are what a write
// never made leaves, in a file extended or preallocated: a torn tail. Bytes
// after them can be a torn tail too: a power loss during the fdatasync of
// the group in flight can keep a later block of it and lose its first one,
// header and all, and with the segment preallocated that later block is
// inside the file. Nothing acknowledged comes after the group in flight,
// so it is damage only if a good group starts somewhere after off (data
// acknowledged later), or records start right after the header (the group
// is whole, only its header is gone: it may have been acknowledged). Like a
// lost last block of the newest group, a lost first block of it is taken
// for a torn write: the two look the same.
func zeroHeaderIsDamage(b []byte, off int64) bool {
	end := int64(len(b))
	for end > off && b[end-1] == 0 {
		end--
	}
	if end == off {
		return false
	}
	if off+headerLen < int64(len(b)) {
		if _, _, err := decodeAt(b, off+headerLen); err == nil {
			return true
		}
	}
	// Every offset, as the group's length is gone. A record of the torn
	// group is framed as a group is, so a group counts only if its payload
	// is records that fill it, checked before its own checksum. The bytes
	// checked are bounded (crafted message bodies could make this scan
	// quadratic); past the bound the answer is the safe one, damage.
	budget := 8*(end-off) + 1<<20
	for p := off + 1; p+headerLen < end; p++ {
		n := int64(binary.LittleEndian.Uint32(b[p:]))
		gend := p + headerLen + n
		if n == 0 || n > maxGroup || gend > int64(len(b)) {
			continue
		}
		q := p + headerLen
		for q < gend {
			if gend-q >= headerLen { // what decodeAt checksums, good or not
				if rn := int64(binary.LittleEndian.Uint32(b[q:])); rn <= maxRecord && q+headerLen+rn <= gend {
					budget -= rn
				}
			}
			_, rn, err := decodeAt(b[:gend], q)
			if err != nil {
				break
			}
			q += rn
		}
		if budget < 0 {
			return true
		}
		if q != gend {
			continue
		}
		if _, err := groupAt(b, p); err == nil {
			return true
		}
		budget -= n
	}
	return false
}

// decodeAt decodes the record at off, returning it and its framed length.
func decodeAt(b []byte, off int64) (*Record, int64, error) {
	rest := b[off:]
	if len(rest) < headerLen {
		return nil, 0, errors.New("truncated header")
	}
	n := int64(binary.LittleEndian.Uint32(rest))
	sum := binary.LittleEndian.Uint32(rest[4:])
	if n == 0 || n > maxRecord {
		return nil, 0, fmt.Errorf("impossible record length %d", n)
	}
	if int64(len(rest)) < headerLen+n {
		return nil, 0, fmt.Errorf("record of %d bytes runs past the end of the file", n)
	}
	payload := rest[headerLen : headerLen+n]
	if crc32.Checksum(payload, crcTable) != sum {
		return nil, 0, errors.New("checksum mismatch")
	}
	r, err := decodePayload(payload)
	if err != nil {
		return nil, 0, err
	}
	return r, headerLen + n, nil
}

func decodePayload(p []byte) (*Record, error) {
	r := &Record{Kind: Kind(p[0])}
	if r.Kind < Send || r.Kind > DropQueue {
		return nil, fmt.Errorf("unknown record kind %d", p[0])
	}
	p = p[1:]
	str := func() (string, error) {
		n, k := binary.Uvarint(p)
		if k <= 0 || uint64(len(p)-k) < n {
			return "", errors.New("bad string length")
		}
		s := string(p[k : k+int(n)])
		p = p[k+int(n):]
		return s, nil
	}
	var err error
	if r.Queue, err = str(); err != nil {
		return nil, err
	}
	if r.ID, err = str(); err != nil {
		return nil, err
	}
	switch r.Kind {
	case Send:
		r.Data = p
	case Dedup:
		if len(p) < 8 {
			return nil, errors.New("short deduplication record")
		}
		r.DedupExpiresMs = int64(binary.LittleEndian.Uint64(p))
		r.DedupMessageID = string(p[8:])
	default:
		switch len(p) {
		case 0:
		case 16:
			r.hasBound = true
			r.bound = pos{seg: int64(binary.LittleEndian.Uint64(p)), off: int64(binary.LittleEndian.Uint64(p[8:]))}
		default:
			return nil, fmt.Errorf("kill record with %d bytes of data", len(p))
		}
	}
	return r, nil
}

// appendRecord frames r onto b.
func appendRecord(b []byte, r *Record) []byte {
	start := len(b)
	b = append(b, 0, 0, 0, 0, 0, 0, 0, 0, byte(r.Kind))
	b = binary.AppendUvarint(b, uint64(len(r.Queue)))
	b = append(b, r.Queue...)
	b = binary.AppendUvarint(b, uint64(len(r.ID)))
	b = append(b, r.ID...)
	switch r.Kind {
	case Send:
		b = append(b, r.Data...)
	case Dedup:
		b = binary.LittleEndian.AppendUint64(b, uint64(r.DedupExpiresMs))
		b = append(b, r.DedupMessageID...)
	default:
		if r.hasBound {
			b = binary.LittleEndian.AppendUint64(b, uint64(r.bound.seg))
			b = binary.LittleEndian.AppendUint64(b, uint64(r.bound.off))
		}
	}
	payload := b[start+headerLen:]
	binary.LittleEndian.PutUint32(b[start:], uint32(len(payload)))
	binary.LittleEndian.PutUint32(b[start+4:], crc32.Checksum(payload, crcTable))
	return b
}

func (l *Log) qi(q string) *qindex {
	qi := l.queues[q]
	if qi == nil {
		qi = &qindex{msgs: map[string]pos{}, dedup: map[string]pos{}}
		l.queues[q] = qi
	}
	return qi
}

// apply records r, written at p, in the index: it becomes live (Send,
// Dedup) and kills what it supersedes.
func (l *Log) apply(r *Record, p pos) {
	bound := p
	if r.hasBound {
		bound = r.bound
	}
	switch r.Kind {
	case Send:
		qi := l.qi(r.Queue)
		if old, ok := qi.msgs[r.ID]; ok {
			l.kill(old, p)
		}
		qi.msgs[r.ID] = p
		l.addLive(p)
	case Dedup:
		qi := l.qi(r.Queue)
		if old, ok := qi.dedup[r.ID]; ok {
			l.kill(old, p)
		}
		qi.dedup[r.ID] = p
		l.addLive(p)
	case Delete:
		if qi := l.queues[r.Queue]; qi != nil {
			if old, ok := qi.msgs[r.ID]; ok && old.before(bound) {
				l.kill(old, p)
				delete(qi.msgs, r.ID)
			}
		}
	case DedupDelete:
		if qi := l.queues[r.Queue]; qi != nil {
			if old, ok := qi.dedup[r.ID]; ok && old.before(bound) {
				l.kill(old, p)
				delete(qi.dedup, r.ID)
			}
		}
	case Purge, DropQueue:
		if qi := l.queues[r.Queue]; qi != nil {
			for id, old := range qi.msgs {
				if old.before(bound) {
					l.kill(old, p)
					delete(qi.msgs, id)
				}
			}
			if r.Kind == DropQueue {
				for id, old := range qi.dedup {
					if old.before(bound) {
						l.kill(old, p)
						delete(qi.dedup, id)
					}
				}
			}
			if len(qi.msgs)+len(qi.dedup) == 0 {
				delete(l.queues, r.Queue)
			}
		}
	}
}

func (l *Log) addLive(p pos) {
	s := l.segs[p.seg]
	s.live++
	s.liveBytes += p.n
}

// kill marks the record at old dead, killed by the record at by. A killer
// in a newer segment pins that segment while old's segment exists.
func (l *Log) kill(old pos, by pos) {
	s := l.segs[old.seg]
	if s == nil {
		return
	}
	s.live--
	s.liveBytes -= old.n
	if old.seg != by.seg {
		if t := l.segs[by.seg]; t != nil {
			s.refs[by.seg]++
			t.pinned++
			t.kills[old.seg] = append(t.kills[old.seg], by.off)
		}
	}
}

func (l *Log) openActive(s *segment) error {
	f, err := os.OpenFile(l.path(s.seq), os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("qlog: open %s: %w", l.path(s.seq), err)
	}
	if _, err := f.Seek(s.size, io.SeekStart); err != nil {
		f.Close()
		return fmt.Errorf("qlog: %w", err)
	}
	s.alloc = s.size
	l.active, l.f = s, f
	return nil
}

// newSegment creates segment seq and makes it the active one (its name
// made durable in the directory before anything is written to it).
func (l *Log) newSegment(seq int64) error {
	// The segment being closed is cut to its data first, durably: replay
	// takes zeros at the end of the newest segment for a torn tail, but
	// anywhere else for damage. The file's own size says whether there is
	// anything to cut, not alloc: a preallocation that failed part way
	// (ext4 out of space keeps the blocks it got) leaves zeros alloc does
	// not count.
	if a := l.active; l.f != nil && longerThan(l.f, a.size) {
		if err := truncateFile(l.f, a.size); err != nil {
			return fmt.Errorf("qlog: cut the preallocated end of %s: %w", l.path(a.seq), err)
		}
		if err := datasync(l.f); err != nil {
			return fmt.Errorf("qlog: cut the preallocated end of %s: %w", l.path(a.seq), err)
		}
		a.alloc = a.size
	}
	name := l.path(seq)
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("qlog: create %s: %w", name, err)
	}
	if err := dirSync(l.dir); err != nil {
		f.Close()
		// The file is empty and nothing was acknowledged in it; remove it so
		// the next roll can create the same name (O_EXCL) instead of failing
		// every append after one bad directory sync. If this fails too, the
		// empty file is harmless on replay, and the next try fails the same
		// way until the directory works again.
		_ = os.Remove(name)
		return err
	}
	if l.f != nil {
		l.f.Close()
	}
	s := newSeg(seq)
	l.segs[seq] = s
	l.active, l.f = s, f
	return nil
}

// longerThan reports whether f's file is longer than size (or its size is
// unknown: cutting to the data is always safe).
func longerThan(f *os.File, size int64) bool {
	fi, err := f.Stat()
	return err != nil || fi.Size() > size
}

// The file operations the log's durability rests on, variables so tests
// can inject failures and crashes (qlog_fault_test.go).
var (
	writeFile    = func(f *os.File, b []byte) (int, error) { return f.Write(b) }
	datasync     = fdatasync
	unlink       = os.Remove
	dirSync      = syncDir
	truncateFile = func(f *os.File, size int64) error { return f.Truncate(size) }
	preallocFile = zeroFill
)

// cutTail cuts the torn tail off segment name at off, durably: the log may
// roll past this segment before writing to it again, and a cut undone by a
// power loss would then be damage in the middle of the log.
func cutTail(name string, off int64) error {
	f, err := os.OpenFile(name, os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := truncateFile(f, off); err != nil {
		return err
	}
	return datasync(f)
}

// syncFile makes the data and length of the file name durable.
func syncFile(name string) error {
	f, err := os.OpenFile(name, os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	return datasync(f)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("qlog: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("qlog: sync %s: %w", dir, err)
	}
	return nil
}

// Append writes recs durably: one write and one fdatasync for the group,
// before it returns nil. On an error none of recs is acknowledged (some may
// still be replayed after a crash, as with any interrupted write).
func (l *Log) Append(recs []Record) error {
	if len(recs) == 0 {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.appendLocked(recs, true)
}

func (l *Log) appendLocked(recs []Record, reclaim bool) error {
	ps, err := l.writeGroup(recs)
	if err != nil {
		return err
	}
	for i := range recs {
		l.apply(&recs[i], ps[i])
	}
	if reclaim {
		l.reclaim()
	}
	return nil
}

// writeGroup writes recs as one group (one write, one fdatasync) and
// returns where each landed; the index is the caller's to update.
func (l *Log) writeGroup(recs []Record) ([]pos, error) {
	if l.broken != nil {
		return nil, l.broken
	}
	b := append(l.buf[:0], 0, 0, 0, 0, 0, 0, 0, 0)
	ends := make([]int64, len(recs))
	for i := range recs {
		b = appendRecord(b, &recs[i])
		ends[i] = int64(len(b))
		// Refuse what replay would refuse as damage, before writing it.
		start := int64(headerLen)
		if i > 0 {
			start = ends[i-1]
		}
		if n := ends[i] - start - headerLen; n > maxRecord {
			return nil, fmt.Errorf("qlog: record %s of queue %s is %d bytes, over the limit of %d", recs[i].ID, recs[i].Queue, n, maxRecord)
		}
		if n := int64(len(b)) - headerLen; n > maxGroup {
			return nil, fmt.Errorf("qlog: a group of %d records is over %d bytes; append fewer at a time", len(recs), maxGroup)
		}
	}
	binary.LittleEndian.PutUint32(b, uint32(len(b)-headerLen))
	binary.LittleEndian.PutUint32(b[4:], crc32.Checksum(b[headerLen:], crcTable))
	if cap(b) <= 1<<20 {
		l.buf = b
	}
	if l.active.size > 0 && l.active.size+int64(len(b)) > l.opts.SegmentBytes {
		if err := l.newSegment(l.active.seq + 1); err != nil {
			return nil, err
		}
	}
	s := l.active
	l.preallocate(s, s.size+int64(len(b)))
	if _, err := writeFile(l.f, b); err != nil {
		return nil, l.undo(s, fmt.Errorf("qlog: write %s: %w", l.path(s.seq), err))
	}
	if err := datasync(l.f); err != nil {
		// After a failed fdatasync the kernel may have dropped the dirty
		// pages and marked them clean: a later fdatasync can succeed without
		// writing them, and what the file holds is unknown. Cut the group
		// off if possible, but refuse every further append: only a reopen
		// (replay, which checks every group) knows the state again.
		err = l.undo(s, fmt.Errorf("qlog: fdatasync %s: %w", l.path(s.seq), err))
		if l.broken == nil {
			l.broken = fmt.Errorf("%w (%v)", ErrBroken, err)
		}
		return nil, err
	}
	base := s.size
	start := int64(headerLen)
	ps := make([]pos, len(recs))
	for i := range recs {
		ps[i] = pos{seg: s.seq, off: base + start, n: ends[i] - start}
		start = ends[i]
	}
	s.size = base + int64(len(b))
	l.stats.Appends++
	l.stats.Records += int64(len(recs))
	l.stats.Bytes += int64(len(b))
	totalAppends.Add(1)
	totalRecords.Add(int64(len(recs)))
	totalBytes.Add(int64(len(b)))
	return ps, nil
}

// preallocate extends the active segment's file past need (a multiple of
// PreallocBytes from its start, never to EarlyRollBytes or SegmentBytes
// unless need reaches them, so a drained log's bounds hold). It is an
// optimisation only: where the file system cannot, the write extends the
// file as before. The new length is made durable by the append's own
// fdatasync.
func (l *Log) preallocate(s *segment, need int64) {
	c := l.opts.PreallocBytes
	if c <= 0 || need <= s.alloc {
		return
	}
	to := (need + c - 1) / c * c
	for _, limit := range []int64{l.opts.EarlyRollBytes, l.opts.SegmentBytes} {
		if need < limit && to >= limit {
			to = limit - 1
		}
	}
	if to <= need {
		return
	}
	err := preallocFile(l.f, s.size, to-s.size)
	switch {
	case err == nil:
		s.alloc = to
	case errors.Is(err, errors.ErrUnsupported):
		// EOPNOTSUPP, ENOSYS, or not Linux: no use asking at every append.
		l.opts.PreallocBytes = -1
	}
	// Any other error (ENOSPC) may have extended the file part way: the
	// roll and Close cut by the file's size, not by alloc.
}

// undo cuts a failed write off the active segment; if that fails too the
// log is broken (a later fsync could make half a group durable).
func (l *Log) undo(s *segment, err error) error {
	// The cut is synced for the reason cutTail's is.
	terr := truncateFile(l.f, s.size)
	if terr == nil {
		s.alloc = s.size
		terr = datasync(l.f)
	}
	if terr != nil {
		l.broken = fmt.Errorf("%w (%v; cutting it off failed: %v)", ErrBroken, err, terr)
		return err
	}
	if _, serr := l.f.Seek(s.size, io.SeekStart); serr != nil {
		l.broken = fmt.Errorf("%w (%v)", ErrBroken, serr)
	}
	return err
}

// reclaim unlinks closed segments without live records (unless pinned),
// rolls a sparse active segment early (then unlinked, or compacted, as a
// closed one) and rewrites forward at most one sparse closed segment per
// call, oldest first.
func (l *Log) reclaim() {
	if !l.removeDead() {
		return
	}
	if a := l.active; a.size >= l.opts.EarlyRollBytes && l.sparse(a) {
		// The records written so far are durable (each Append synced them),
		// so closing this segment needs nothing but a new one. A failure
		// leaves it active; the next append tries again.
		if err := l.newSegment(a.seq + 1); err == nil {
			l.stats.EarlyRolls++
			if !l.removeDead() {
				return
			}
		}
	}
	for _, seq := range l.closedSeqs() {
		s := l.segs[seq]
		if s.live+s.pinned > 0 && l.sparse(s) {
			// A failure leaves s as it was; the next append tries again.
			_ = l.compact(s)
			return
		}
	}
}

// sparse reports whether s's live records and the kills it must keep
// (counted at 64 bytes each) are below CompactBelow of its size.
func (l *Log) sparse(s *segment) bool {
	return float64(s.liveBytes+64*int64(s.pinned)) < l.opts.CompactBelow*float64(s.size)
}

// removeDead unlinks every closed segment without live records that pins
// nothing, oldest first, until none is left (an unlink can release the
// pins of a newer one). It reports false if an unlink failed.
func (l *Log) removeDead() bool {
	for {
		removed := false
		for _, seq := range l.closedSeqs() {
			s := l.segs[seq]
			if s.live == 0 && s.pinned == 0 {
				if err := l.remove(s); err != nil {
					return false
				}
				removed = true
			}
		}
		if !removed {
			return true
		}
	}
}

func (l *Log) closedSeqs() []int64 {
	seqs := make([]int64, 0, len(l.segs))
	for seq := range l.segs {
		if seq != l.active.seq {
			seqs = append(seqs, seq)
		}
	}
	sort.Slice(seqs, func(i, j int) bool { return seqs[i] < seqs[j] })
	return seqs
}

// remove unlinks segment s and releases the pins its dead records held.
func (l *Log) remove(s *segment) error {
	if err := unlink(l.path(s.seq)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("qlog: %w", err)
	}
	// The unlink must be durable before the pins it releases are: once they
	// are, the segments holding s's killers may go, and if s came back after
	// a power loss without them its dead records would be live again. On
	// failure s stays (dead, unpinned); the next reclaim unlinks (ENOENT)
	// and syncs again.
	if err := dirSync(l.dir); err != nil {
		return err
	}
	for t, n := range s.refs {
		if ts := l.segs[t]; ts != nil {
			ts.pinned -= n
			delete(ts.kills, s.seq)
		}
	}
	delete(l.segs, s.seq)
	l.stats.Unlinked++
	return nil
}

// compact rewrites segment s at the end of the log, in one durable group:
// its live records, and the records in it that killed records of older
// segments still present (as kills bounded to where they first were, so
// they cannot touch anything written since). Then s is unlinked.
func (l *Log) compact(s *segment) error {
	b, err := os.ReadFile(l.path(s.seq))
	if err != nil {
		return fmt.Errorf("qlog: %w", err)
	}
	at := func(off int64) (*Record, error) {
		r, _, err := decodeAt(b, off)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: record at offset %d: %v", ErrCorrupt, l.path(s.seq), off, err)
		}
		return r, nil
	}
	// Kills first, by where they were.
	type killCopy struct {
		off     int64
		targets []int64 // one per record killed in an older segment
	}
	byOff := map[int64]*killCopy{}
	for o, offs := range s.kills {
		if l.segs[o] == nil {
			continue
		}
		for _, off := range offs {
			k := byOff[off]
			if k == nil {
				k = &killCopy{off: off}
				byOff[off] = k
			}
			k.targets = append(k.targets, o)
		}
	}
	kills := make([]*killCopy, 0, len(byOff))
	for _, k := range byOff {
		kills = append(kills, k)
	}
	sort.Slice(kills, func(i, j int) bool { return kills[i].off < kills[j].off })
	var recs []Record
	for _, k := range kills {
		r, err := at(k.off)
		if err != nil {
			return err
		}
		if !r.hasBound {
			r.hasBound, r.bound = true, pos{seg: s.seq, off: k.off}
		}
		// A record that superseded one of the same key kills it as a
		// tombstone would (its own live copy, if any, follows below).
		switch r.Kind {
		case Send:
			r.Kind, r.Data = Delete, nil
		case Dedup:
			r.Kind, r.DedupMessageID, r.DedupExpiresMs = DedupDelete, "", 0
		}
		recs = append(recs, *r)
	}
	nk := len(recs)
	var lives []pos
	for _, qi := range l.queues {
		for _, p := range qi.msgs {
			if p.seg == s.seq {
				lives = append(lives, p)
			}
		}
		for _, p := range qi.dedup {
			if p.seg == s.seq {
				lives = append(lives, p)
			}
		}
	}
	// In their order: replay hands live records over in log order.
	sort.Slice(lives, func(i, j int) bool { return lives[i].off < lives[j].off })
	for _, p := range lives {
		r, err := at(p.off)
		if err != nil {
			return err
		}
		recs = append(recs, *r)
	}
	if len(recs) > 0 {
		ps, err := l.writeGroup(recs)
		if err != nil {
			return err
		}
		// The copied kills pin their new segment in place of s.
		for i, k := range kills {
			np := ps[i]
			t := l.segs[np.seg]
			for _, o := range k.targets {
				l.segs[o].refs[np.seg]++
				t.pinned++
				t.kills[o] = append(t.kills[o], np.off)
			}
		}
		for i := nk; i < len(recs); i++ {
			l.apply(&recs[i], ps[i])
		}
	}
	for o := range s.kills {
		if older := l.segs[o]; older != nil {
			s.pinned -= older.refs[s.seq]
			delete(older.refs, s.seq)
		}
	}
	l.stats.Compacted++
	return l.remove(s)
}

// Stats returns the log's counters and its size now.
func (l *Log) Stats() Stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := l.stats
	st.Segments = len(l.segs)
	for _, s := range l.segs {
		st.DiskBytes += s.size
		st.LiveBytes += s.liveBytes
	}
	return st
}

// totalAppends, totalRecords and totalBytes count every log's writes,
// process-wide (the cost model in docs/queues.md is measured with them).
var totalAppends, totalRecords, totalBytes atomic.Int64

// Totals returns the writes of every log of the process so far: appends
// (each one write and one fdatasync), records and bytes.
func Totals() Stats {
	return Stats{Appends: totalAppends.Load(), Records: totalRecords.Load(), Bytes: totalBytes.Load()}
}

// Queues lists the queue ids that have live records.
func (l *Log) Queues() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for q, qi := range l.queues {
		if len(qi.msgs)+len(qi.dedup) > 0 {
			out = append(out, q)
		}
	}
	sort.Strings(out)
	return out
}

// Close closes the active segment.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	if a := l.active; l.broken == nil && longerThan(l.f, a.size) {
		// Tidy, not needed: replay cuts the zeros as a torn tail (and Open
		// syncs a full newest segment before rolling past it, as this cut
		// is not synced).
		if truncateFile(l.f, a.size) == nil {
			a.alloc = a.size
		}
	}
	err := l.f.Close()
	l.f = nil
	l.broken = errors.New("qlog: the log is closed")
	return err
}
