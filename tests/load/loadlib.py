#!/usr/bin/env python3
"""Helpers for the load scripts: read the daemon's /status, /proc counters, SIPp's CSV outputs and the
call_records table, and print one summary. Standard library only; every network wait is bounded."""
import csv
import glob
import json
import os
import sqlite3
import sys
import time
import urllib.request


# The supervisor account common.sh writes into the load config.
TOKEN = os.environ.get("LOAD_ADMIN_TOKEN", "load-test-token-0123")


def status(admin):
    req = urllib.request.Request(f"http://{admin}/status", headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(req, timeout=5) as r:
        return json.load(r)


def proc_cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # after the ")" field 3 is the state; utime and stime are fields 14 and 15 of the whole line
    return int(fields[11]) + int(fields[12])


def proc_hwm_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def proc_rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def rcvbuf_errors():
    with open("/proc/net/snmp") as f:
        rows = [l.split() for l in f if l.startswith("Udp:")]
    head, vals = rows[0], rows[1]
    return int(vals[head.index("RcvbufErrors")])


def socket_drops(ports):
    """Datagrams dropped on our own SIP sockets (per-socket counter; RcvbufErrors is box-wide)."""
    total = 0
    with open("/proc/net/udp") as f:
        next(f)
        for line in f:
            cols = line.split()
            port = int(cols[1].split(":")[1], 16)
            if port in ports and cols[1].startswith("0100007F"):
                total += int(cols[-1])
    return total


def snapshot(pid):
    """CPU ticks, RcvbufErrors and the daemon's counters now, as one JSON line."""
    print(json.dumps({"ticks": proc_cpu_ticks(pid), "rcvbuf": rcvbuf_errors()}))


def sample(pid, path, every):
    """Once per `every` s until the daemon exits or we are killed: time, CPU ticks, RSS kB, threads."""
    with open(path, "w") as out:
        out.write("t;cpu_ticks;rss_kb;threads\n")
        while True:
            try:
                ticks = proc_cpu_ticks(pid)
                with open(f"/proc/{pid}/status") as f:
                    d = dict(l.split(":", 1) for l in f if ":" in l)
            except OSError:
                return
            out.write(f"{time.time():.1f};{ticks};{d['VmRSS'].split()[0]};{d['Threads'].strip()}\n")
            out.flush()
            time.sleep(every)


def sample_status(admin, path, every):
    """Once per `every` s until killed: time, active calls, live client + server transactions (from
    /status; a sample the daemon is too busy to answer within 2 s is skipped, not waited for)."""
    with open(path, "w") as out:
        out.write("t;active_calls;live_transactions\n")
        while True:
            t = time.time()
            try:
                req = urllib.request.Request(f"http://{admin}/status", headers={"Authorization": f"Bearer {TOKEN}"})
                with urllib.request.urlopen(req, timeout=2) as r:
                    st = json.load(r)
                live = st["sip"]["live_client_transactions"] + st["sip"]["live_server_transactions"]
                out.write(f"{t:.1f};{st['calls']['active']};{live}\n")
                out.flush()
            except (OSError, ValueError, KeyError):
                pass
            time.sleep(max(0.0, every - (time.time() - t)))


def memory_per_unit(samples, status_samples, peak_rss_kb):
    """RSS growth over the run (peak − the first sample, taken before the first call) divided by the
    peak of concurrent calls and of live transactions. Each is an upper bound: the growth holds both."""
    try:
        with open(samples) as f:
            rows = list(csv.DictReader(f, delimiter=";"))
        base_kb = int(rows[0]["rss_kb"])
        with open(status_samples) as f:
            st = list(csv.DictReader(f, delimiter=";"))
        peak_calls = max(int(r["active_calls"]) for r in st)
        peak_tx = max(int(r["live_transactions"]) for r in st)
    except (OSError, ValueError, KeyError, IndexError):
        return {}
    growth = max(0, peak_rss_kb - base_kb)
    return {
        "rss_base_mb": round(base_kb / 1024, 1),
        "peak_active_calls": peak_calls,
        "peak_live_transactions": peak_tx,
        "rss_growth_kb_per_concurrent_call": round(growth / peak_calls, 1) if peak_calls else -1,
        "rss_growth_kb_per_live_transaction": round(growth / peak_tx, 2) if peak_tx else -1,
    }


def seats_available(admin):
    st = status(admin)
    return sum(1 for s in st.get("seats", []) if (s.get("state") or {}).get("state") == "ready")


def wait_seats(admin, want, within):
    deadline = time.time() + within
    n = -1
    while time.time() < deadline:
        try:
            n = seats_available(admin)
        except OSError:
            n = -1
        if n >= want:
            print(n)
            return 0
        time.sleep(0.5)
    print(n)
    return 1


def wait_idle(admin, within):
    """Wait (bounded) for calls.active to reach 0; print the last value seen."""
    deadline = time.time() + within
    active = None
    while time.time() < deadline:
        try:
            active = status(admin)["calls"]["active"]
        except (OSError, KeyError, ValueError):
            active = None
        if active == 0:
            break
        time.sleep(0.5)
    print(active if active is not None else -1)


def records(db):
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            return con.execute("SELECT count(*) FROM call_records").fetchone()[0]
        finally:
            con.close()
    except sqlite3.Error:
        return -1


def wait_records(db, want, within):
    deadline = time.time() + within
    n = records(db)
    while n < want and time.time() < deadline:
        time.sleep(0.5)
        n = records(db)
    print(n)


def last_row(path):
    """Header and last data row of a SIPp ';'-separated CSV, as a dict."""
    with open(path, encoding="latin-1") as f:
        lines = [l.rstrip("\n;") for l in f if l.strip()]
    head = lines[0].split(";")
    vals = lines[-1].split(";")
    return dict(zip(head, vals))


def counts(path):
    """-trace_counts: per scenario element, how many were sent/received. Keys like '5_200_Recv'."""
    row = last_row(path)
    out = {}
    for k, v in row.items():
        try:
            out[k] = int(v)
        except ValueError:
            pass
    return out


def count_of(c, what, nth=1):
    """The nth column whose name ends with `what` (e.g. '_200_Recv'); 0 if absent."""
    cols = [k for k in c if k.split("_", 1)[-1] == what]
    cols.sort(key=lambda k: int(k.split("_", 1)[0]))
    return c[cols[nth - 1]] if len(cols) >= nth else 0


def summary(args):
    a = dict(kv.split("=", 1) for kv in args)
    stat = last_row(glob.glob(a["stat"])[0])
    cfiles = glob.glob(a["counts"])
    c = counts(cfiles[0]) if cfiles else {}
    before = json.loads(a["before"])
    after = json.loads(a["after"])
    with open(a["status"]) as f:
        st = json.load(f)
    # A daemon that no longer answers /status: report -1s instead of failing the summary.
    st.setdefault("calls", {"started": -1, "refused_overload": -1})
    st.setdefault("records", {"spilled": -1, "lost": -1})
    st.setdefault("sip", {"retransmissions": -1, "dropped_incoming": -1})
    ticks = int(a["clk_tck"])
    attempted = int(stat.get("TotalCallCreated", stat.get("OutgoingCall(C)", 0)))
    succeeded = int(stat["SuccessfulCall(C)"])
    failed = int(stat["FailedCall(C)"])
    retrans = int(stat.get("Retransmissions(C)", 0))
    # Element order in caller.xml: INVITE, 100, 180, 183, 503, 200, ACK, BYE, 200, ACK(refused).
    answered = count_of(c, "200_Recv", 1)
    refused_503 = count_of(c, "503_Recv", 1)
    completed = count_of(c, "200_Recv", 2)
    seconds = float(a["seconds"])
    wall = float(a["wall"])
    cpu_s = (after["ticks"] - before["ticks"]) / ticks
    rows = int(a["records"])
    active = int(a["active_after"])
    started = st["calls"]["started"]
    lost_rec = st["records"]["lost"]
    per1000 = cpu_s / completed * 1000 if completed else float("nan")
    idle_cpu_per_s = (json.loads(a["idle1"])["ticks"] - json.loads(a["idle0"])["ticks"]) / ticks / 3.0
    busy_s = float(a["measured_s"]) if "measured_s" in a else wall
    net_per1000 = (cpu_s - idle_cpu_per_s * busy_s) / completed * 1000 if completed else float("nan")
    res = {
        "rate": float(a["rate"]),
        "seconds": seconds,
        "talk_ms": int(a["talk_ms"]),
        "seats": int(a["seats"]),
        "max_active": int(a["max_active"]),
        "attempted": attempted,
        "completed": completed,
        "answered": answered,
        "refused_503": refused_503,
        "failed": failed,
        "sipp_successful": succeeded,
        "completed_cps": round(completed / seconds, 1),
        "sipp_wall_s": round(wall, 1),
        "retransmissions": retrans,
        "daemon_cpu_s": round(cpu_s, 2),
        "daemon_cpu_s_per_1000_calls": round(per1000, 3),
        "daemon_idle_cpu_s_per_s": round(idle_cpu_per_s, 4),
        "daemon_cpu_s_per_1000_calls_minus_idle": round(net_per1000, 3),
        "daemon_peak_rss_mb": round(proc_hwm_kb(int(a["pid"])) / 1024, 1) if os.path.exists(f"/proc/{a['pid']}") else -1,
        "daemon_rss_after_mb": round(proc_rss_kb(int(a["pid"])) / 1024, 1) if os.path.exists(f"/proc/{a['pid']}") else -1,
        "active_after": active,
        **(memory_per_unit(a["samples"], a["status_samples"], proc_hwm_kb(int(a["pid"])))
           if "samples" in a and os.path.exists(f"/proc/{a['pid']}") else {}),
        "daemon_started": started,
        "daemon_refused_overload": st["calls"]["refused_overload"],
        "daemon_sip_retransmissions": st["sip"]["retransmissions"],
        "daemon_sip_dropped_incoming": st["sip"]["dropped_incoming"],
        "records_rows": rows,
        "records_spilled": st["records"]["spilled"],
        "records_lost": lost_rec,
        "rcvbuf_errors_delta_boxwide": after["rcvbuf"] - before["rcvbuf"],
        "sip_socket_drops": socket_drops({int(p) for p in a["sip_ports"].split(",")}),
        "daemon_warn_lines": int(a["warn_lines"]),
    }
    for k, v in stat.items():
        if k.startswith("Failed") and k.endswith("(C)") and k != "FailedCall(C)" and v not in ("0", ""):
            res["sipp_" + k[:-3]] = int(v)
    problems = []
    if rows < answered:
        problems.append(f"records lost: {rows} rows < {answered} answered")
    if st["calls"]["started"] == -1:
        problems.append("the daemon did not answer /status after the run")
    if lost_rec:
        problems.append(f"daemon reports {lost_rec} records lost")
    if active != 0:
        problems.append(f"calls stuck: active={active} after the wait")
    if a.get("mode") == "overload":
        timeouts = sum(v for k, v in res.items() if k in ("sipp_FailedTimeoutOnRecv", "sipp_FailedMaxUDPRetrans"))
        res["invite_timeouts"] = timeouts
        if refused_503 == 0:
            problems.append("no 503 refusals: the run did not overload the daemon (raise the rate or lower max_active)")
        if res.get("sipp_FailedRegexpDoesntMatch", 0):
            problems.append(f"{res['sipp_FailedRegexpDoesntMatch']} refusals without a numeric Retry-After")
        if res["daemon_refused_overload"] < refused_503:
            problems.append("SIPp saw more 503s than the daemon counted as overload refusals")
        if timeouts > attempted / 100:
            problems.append(f"{timeouts} calls timed out instead of being refused (> 1% of {attempted})")
        if answered + refused_503 + failed < attempted:
            problems.append("some calls got neither an answer, a 503 nor a failure")
    res["problems"] = problems
    # "Clean" in the sense of the issue: every call offered was answered and completed, nothing lost.
    res["clean"] = not problems and failed == 0 and refused_503 == 0 and completed == attempted
    width = max(len(k) for k in res)
    for k, v in res.items():
        print(f"  {k:<{width}}  {v}")
    print("RESULT " + json.dumps(res, ensure_ascii=False))
    return 1 if problems else 0


def thread_ticks(pid):
    """{tid: (comm, utime+stime ticks)} of every thread of `pid` now."""
    out = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                line = f.read()
        except OSError:
            continue
        comm = line[line.index("(") + 1 : line.rindex(")")]
        fields = line.rsplit(")", 1)[1].split()
        out[tid] = (comm, int(fields[11]) + int(fields[12]))
    return out


def hold(admin, pid, seconds, path, others):
    """The three-way hold window: CPU of the daemon (whole and per thread name) and of `others`
    (name=pid) from t0 to t1, /status sampled every second (conferences, active calls, legs), written as
    JSON to `path`. t0/t1 are epoch seconds: the pacing analysis uses the same window."""
    def cpu_of(p):
        try:
            return proc_cpu_ticks(p)
        except OSError:
            return None

    def media(st):
        m = st.get("media", {})
        return {k: m.get(k) for k in ("conferences", "active_legs", "late_ticks", "packets_out", "packets_in")}

    t0 = time.time()
    d0 = cpu_of(pid)
    th0 = thread_ticks(pid)
    o0 = {name: cpu_of(int(p)) for name, p in others.items()}
    samples = []
    deadline = t0 + seconds
    first = last = None
    while True:
        try:
            st = status(admin)
            row = {"t": round(time.time() - t0, 2), "active": st["calls"]["active"], **media(st)}
        except (OSError, KeyError, ValueError) as e:
            row = {"t": round(time.time() - t0, 2), "error": str(e)}
        samples.append(row)
        if first is None and "error" not in row:
            first = row
        if "error" not in row:
            last = row
        left = deadline - time.time()
        if left <= 0:
            break
        time.sleep(min(1.0, left))
    t1 = time.time()
    d1 = cpu_of(pid)
    th1 = thread_ticks(pid)
    o1 = {name: cpu_of(int(p)) for name, p in others.items()}
    by_comm = {}
    for tid, (comm, ticks) in th1.items():
        if tid in th0:
            by_comm[comm] = by_comm.get(comm, 0) + ticks - th0[tid][1]
    confs = [r["conferences"] for r in samples if r.get("conferences") is not None]
    res = {
        "t0": t0,
        "t1": t1,
        "daemon_ticks": None if d0 is None or d1 is None else d1 - d0,
        "thread_ticks": by_comm,
        "others_ticks": {k: (None if o0[k] is None or o1[k] is None else o1[k] - o0[k]) for k in others},
        "conferences_min": min(confs) if confs else -1,
        "conferences_max": max(confs) if confs else -1,
        "status_errors": sum(1 for r in samples if "error" in r),
        "late_ticks": (last["late_ticks"] - first["late_ticks"]) if first and last and first.get("late_ticks") is not None else None,
        "packets_out": (last["packets_out"] - first["packets_out"]) if first and last and first.get("packets_out") is not None else None,
        "samples": samples,
    }
    with open(path, "w") as f:
        json.dump(res, f)


def wait_conferences(admin, want, within):
    """Wait (bounded) until /status media.conferences reaches `want`; print the last value seen."""
    deadline = time.time() + within
    n = -1
    while time.time() < deadline:
        try:
            n = status(admin)["media"]["conferences"]
        except (OSError, KeyError, ValueError):
            pass
        if n >= want:
            break
        time.sleep(0.5)
    print(n)
    return 0 if n >= want else 1


def lin2ulaw(x):
    """One 16-bit sample as G.711 mu-law (the segment search of the ITU-T G.711 reference code)."""
    x >>= 2
    mask = 0xFF
    if x < 0:
        x, mask = -x, 0x7F
    x = min(x, 8159) + 0x21
    seg = next((i for i, end in enumerate((0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF)) if x <= end), 8)
    if seg >= 8:
        return 0x7F ^ mask
    return ((seg << 4) | ((x >> (seg + 1)) & 0x0F)) ^ mask


def lin2alaw(x):
    """One 16-bit sample as G.711 A-law."""
    x >>= 3
    mask = 0xD5 if x >= 0 else 0x55
    if x < 0:
        x = -x - 1
    seg = next((i for i, end in enumerate((0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF)) if x <= end), 8)
    if seg >= 8:
        return 0x7F ^ mask
    return ((seg << 4) | ((x >> (1 if seg < 2 else seg)) & 0x0F)) ^ mask


def tone(path, law, hz, seconds):
    """A headerless G.711 tone file for SIPp's rtp_stream (whole periods, so it loops without a click)."""
    import math

    enc = lin2alaw if law == "alaw" else lin2ulaw
    n = int(8000 * seconds)
    with open(path, "wb") as f:
        f.write(bytes(enc(int(8000 * math.sin(2 * math.pi * hz * i / 8000))) for i in range(n)))


def threeway_summary(args):
    """The summary of one threeway.sh run: prints the figures and a RESULT line; 1 if a call was lost."""
    a = dict(kv.split("=", 1) for kv in args)
    n = int(a["n"])
    with open(a["hold"]) as f:
        h = json.load(f)
    with open(a["pacing"]) as f:
        pc = json.load(f)
    with open(a["status"]) as f:
        st = json.load(f)
    stat = last_row(glob.glob(a["stat"])[0]) if glob.glob(a["stat"]) else {}
    cfiles = glob.glob(a["counts"])
    c = counts(cfiles[0]) if cfiles else {}
    tck = int(a["clk_tck"])
    window = h["t1"] - h["t0"]

    def pct(ticks):
        return round(100.0 * ticks / tck / window, 2) if ticks is not None and window > 0 else None

    idle_pct = round(100.0 * (json.loads(a["idle1"])["ticks"] - json.loads(a["idle0"])["ticks"]) / tck / 3.0, 2)
    cpu = pct(h["daemon_ticks"])
    threads = {k: pct(v) for k, v in sorted(h["thread_ticks"].items(), key=lambda kv: -kv[1]) if v}
    up = h["conferences_min"]
    transfers = (st.get("transfers") or {}).get("负载测试", {})
    created = int(stat.get("TotalCallCreated", stat.get("OutgoingCall(C)", 0)) or 0)
    succeeded = int(stat.get("SuccessfulCall(C)", 0) or 0)
    failed = int(stat.get("FailedCall(C)", 0) or 0)
    rows = int(a["records"])
    active = int(a["active_after"])
    res = {
        "n": n,
        "threeway_up": up,
        "threeway_up_max": h["conferences_max"],
        "hold_s": round(window, 2),
        "daemon_cpu_pct": cpu,
        "daemon_cpu_pct_per_call": round(cpu / up, 4) if cpu is not None and up > 0 else None,
        "daemon_idle_cpu_pct": idle_pct,
        "daemon_cpu_pct_per_call_minus_idle": round((cpu - idle_pct) / up, 4) if cpu is not None and up > 0 else None,
        "daemon_cpu_pct_by_thread": threads,
        "mixer_threads_cpu_pct": threads.get("media-pacer"),
        "sipp_cpu_pct": {k: pct(v) for k, v in h["others_ticks"].items()},
        "within_pct_of_slots": pc["within_pct_of_slots"],
        "within_pct": pc["within_pct"],
        "p50_ms": pc["p50_ms"],
        "p99_ms": pc["p99_ms"],
        "p999_ms": pc["p999_ms"],
        "max_ms": pc["max_ms"],
        "packets": pc["packets"],
        "missing_slots": pc["missing_slots"],
        "streams": pc["streams"],
        "short_streams": pc["short_streams"],
        "duplicates": pc["duplicates"],
        "drift_ppm_median_abs": pc["drift_ppm_median_abs"],
        "daemon_packets_out": h["packets_out"],
        "daemon_late_ticks": h["late_ticks"],
        "tcpdump_drops": a["tcpdump_drops"],
        "sipp_calls_created": created,
        "sipp_calls_successful": succeeded,
        "sipp_calls_failed": failed,
        "transfers": transfers,
        "records_rows": rows,
        "records_lost": (st.get("records") or {}).get("lost", -1),
        "active_after": active,
        "daemon_warn_lines": int(a["warn_lines"]),
        "ramp_per_s": int(a["ramp"]),
        "daemon_sched": a.get("sched") or "normal",
        "loadavg_before": a["loadavg_before"],
        "loadavg_after": a["loadavg_after"],
    }
    # Lost calls (exit 1) and a measurement that cannot be trusted (exit 2) are told apart.
    problems, invalid = [], []
    window_ok = a["window_before_hangup"] == "1"
    if not window_ok:
        invalid.append("the hold window reached the callers' hang-up time (raise THREEWAY_SETUP_S)")
    elif up < n:
        problems.append(f"only {up} of {n} calls stayed mixed through the hold (min of /status media.conferences)")
    if h["status_errors"]:
        problems.append(f"/status did not answer {h['status_errors']} times during the hold")
    if a["tcpdump_drops"] != "0":
        invalid.append(f"tcpdump dropped {a['tcpdump_drops']} packets: missing slots are not all the daemon's")
    if up == n and pc["streams"] != 3 * n:
        invalid.append(f"the capture has {pc['streams']} RTP streams, {3 * n} expected (3 per call)")
    if created != n or succeeded != n or failed:
        problems.append(f"SIPp callers: {created} created, {succeeded} successful, {failed} failed of {n}")
    if transfers.get("answered_within_target", -1) != n:
        problems.append(f"transfers answered within target: {transfers.get('answered_within_target')} of {n}")
    if active != 0:
        problems.append(f"calls stuck: active={active} after the wait")
    if rows < n:
        problems.append(f"records lost: {rows} rows < {n} calls")
    if res["records_lost"]:
        problems.append(f"daemon reports {res['records_lost']} records lost")
    res["lost"] = bool(problems)
    res["invalid"] = bool(invalid)
    res["pacing_ok"] = not problems and not invalid and pc["within_pct_of_slots"] >= 99.0
    res["problems"] = problems + invalid
    width = max(len(k) for k in res)
    for k, v in res.items():
        print(f"  {k:<{width}}  {json.dumps(v, ensure_ascii=False) if isinstance(v, (dict, list)) else v}")
    print("RESULT " + json.dumps(res, ensure_ascii=False))
    return 1 if problems else 2 if invalid else 0


# --- Process trees (a multi-process server such as Kamailio: main + forked workers) -------------------


def tree_pids(root):
    """`root` and every descendant of it now (from /proc/*/stat parent pids)."""
    parent = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                parent[int(d)] = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        if p in parent or p == root:
            out.append(p)
            todo.extend(c for c, pp in parent.items() if pp == p)
    return out


def tree_ticks(root):
    total = 0
    for p in tree_pids(root):
        try:
            total += proc_cpu_ticks(p)
        except OSError:
            pass
    return total


def tree_mem_kb(root):
    """(sum of VmRSS, sum of Pss, process count) over the tree. Pss splits shared pages (Kamailio's -m
    shared memory, libraries) between the processes mapping them, so its sum counts them once."""
    rss = pss = n = 0
    for p in tree_pids(root):
        try:
            rss += proc_rss_kb(p)
            with open(f"/proc/{p}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        pss += int(line.split()[1])
                        break
            n += 1
        except OSError:
            pass
    return rss, pss, n


def tree_snapshot(root):
    print(json.dumps({"ticks": tree_ticks(root), "rcvbuf": rcvbuf_errors()}))


def tree_sample(root, path, every):
    """Once per `every` s until `root` exits or we are killed: time, CPU ticks, RSS sum, PSS sum, processes."""
    with open(path, "w") as out:
        out.write("t;cpu_ticks;rss_kb_sum;pss_kb_sum;procs\n")
        while os.path.exists(f"/proc/{root}"):
            rss, pss, n = tree_mem_kb(root)
            out.write(f"{time.time():.1f};{tree_ticks(root)};{rss};{pss};{n}\n")
            out.flush()
            time.sleep(every)


def tree_peaks(path):
    """Peak RSS sum and peak PSS sum (MB) from a tree-sample file; (-1, -1) if it has no rows."""
    try:
        with open(path) as f:
            rows = [l.strip().split(";") for l in f][1:]
    except OSError:
        rows = []
    rows = [r for r in rows if len(r) == 5]
    if not rows:
        return -1.0, -1.0
    return round(max(int(r[2]) for r in rows) / 1024, 1), round(max(int(r[3]) for r in rows) / 1024, 1)


def proxy_summary(args):
    """The summary of a run through a proxy (Kamailio): the same SIPp figures as `summary`, the CPU of the
    whole process tree, its peak memory (sampled), the proxy's own counters; no /status, no records."""
    a = dict(kv.split("=", 1) for kv in args)
    stat = last_row(glob.glob(a["stat"])[0])
    cfiles = glob.glob(a["counts"])
    c = counts(cfiles[0]) if cfiles else {}
    before, after = json.loads(a["before"]), json.loads(a["after"])
    ticks = int(a["clk_tck"])
    attempted = int(stat.get("TotalCallCreated", stat.get("OutgoingCall(C)", 0)))
    failed = int(stat["FailedCall(C)"])
    answered = count_of(c, "200_Recv", 1)
    refused_503 = count_of(c, "503_Recv", 1)
    completed = count_of(c, "200_Recv", 2)
    seconds = float(a["seconds"])
    cpu_s = (after["ticks"] - before["ticks"]) / ticks
    idle = (json.loads(a["idle1"])["ticks"] - json.loads(a["idle0"])["ticks"]) / ticks / 3.0
    busy_s = float(a["measured_s"])
    rss_peak, pss_peak = tree_peaks(a["samples"])
    res = {
        "server": a["server"],
        "rate": float(a["rate"]),
        "seconds": seconds,
        "talk_ms": int(a["talk_ms"]),
        "seats": int(a["seats"]),
        "attempted": attempted,
        "completed": completed,
        "answered": answered,
        "refused_503": refused_503,
        "failed": failed,
        "sipp_successful": int(stat["SuccessfulCall(C)"]),
        "completed_cps": round(completed / seconds, 1),
        "sipp_wall_s": round(float(a["wall"]), 1),
        "retransmissions": int(stat.get("Retransmissions(C)", 0)),
        "seat_uas_retransmissions": int(a.get("uas_retrans", -1)),
        "server_processes": int(a["procs"]),
        "server_cpu_s": round(cpu_s, 2),
        "server_cpu_s_per_1000_calls": round(cpu_s / completed * 1000, 3) if completed else float("nan"),
        "server_idle_cpu_s_per_s": round(idle, 4),
        "server_cpu_s_per_1000_calls_minus_idle": round((cpu_s - idle * busy_s) / completed * 1000, 3) if completed else float("nan"),
        "server_peak_rss_sum_mb": rss_peak,
        "server_peak_pss_sum_mb": pss_peak,
        "rcvbuf_errors_delta_boxwide": after["rcvbuf"] - before["rcvbuf"],
        "sip_socket_drops": socket_drops({int(p) for p in a["sip_ports"].split(",")}),
    }
    for k, v in a.items():
        if k.startswith("kam_"):
            try:
                res[k] = int(v)
            except ValueError:
                try:
                    res[k] = float(v)
                except ValueError:
                    res[k] = v
    for k, v in stat.items():
        if k.startswith("Failed") and k.endswith("(C)") and k != "FailedCall(C)" and v not in ("0", ""):
            res["sipp_" + k[:-3]] = int(v)
    res["clean"] = failed == 0 and refused_503 == 0 and completed == attempted
    width = max(len(k) for k in res)
    for k, v in res.items():
        print(f"  {k:<{width}}  {v}")
    print("RESULT " + json.dumps(res, ensure_ascii=False))
    return 0


def compare(args):
    """One table from a proxy-summary RESULT (Kamailio) and a summary RESULT (hotlined), with ratios
    hotlined / Kamailio. Args: kam=FILE hot=FILE hot_samples=FILE (tree-sample of hotlined)."""
    a = dict(kv.split("=", 1) for kv in args)

    def result(path):
        with open(path) as f:
            lines = [l for l in f if l.startswith("RESULT ")]
        return json.loads(lines[-1][7:]) if lines else None

    k, h = result(a["kam"]), result(a["hot"])
    if k is None or h is None:
        print("compare: a RESULT line is missing (kamailio: %s, hotlined: %s)" % (k is not None, h is not None))
        return 2
    h_rss_sum, h_pss = tree_peaks(a["hot_samples"])

    def uas_retrans(path):
        try:
            return int(last_row(path).get("Retransmissions(C)", -1))
        except (OSError, TypeError, ValueError, IndexError):
            return -1

    rows = [
        ("calls attempted", k["attempted"], h["attempted"], "{:,}"),
        ("calls completed", k["completed"], h["completed"], "{:,}"),
        ("completed calls/s", k["completed_cps"], h["completed_cps"], "{:.1f}"),
        ("clean (all completed, 0 failed, 0 503)", k["clean"], h["clean"], "{}"),
        ("failed calls (SIPp)", k["failed"], h["failed"], "{:,}"),
        ("503 refusals", k["refused_503"], h["refused_503"], "{:,}"),
        ("caller SIPp retransmissions", k["retransmissions"], h["retransmissions"], "{:,}"),
        ("seat SIPp retransmissions", k.get("seat_uas_retransmissions", -1), uas_retrans(a.get("hot_uas_stat")), "{:,}"),
        ("server CPU s (run window)", k["server_cpu_s"], h["daemon_cpu_s"], "{:.2f}"),
        ("CPU ms per call", k["server_cpu_s_per_1000_calls"], h["daemon_cpu_s_per_1000_calls"], "{:.3f}"),
        ("CPU ms per call minus idle", k["server_cpu_s_per_1000_calls_minus_idle"], h["daemon_cpu_s_per_1000_calls_minus_idle"], "{:.3f}"),
        ("peak RSS MB (sum over processes)", k["server_peak_rss_sum_mb"], h_rss_sum, "{:.1f}"),
        ("peak PSS MB (sum over processes)", k["server_peak_pss_sum_mb"], h_pss, "{:.1f}"),
        ("peak RSS MB (VmHWM, largest process)", k.get("kam_max_hwm_mb", -1), h["daemon_peak_rss_mb"], "{:.1f}"),
        ("Kamailio shm max used MB (of -m)", round(k.get("kam_shm_max_used_kb", -1) / 1024, 1), None, "{:.1f}"),
    ]
    print(f"\nKamailio vs hotlined: {h['rate']:.0f} calls/s for {h['seconds']:.0f} s, talk {h['talk_ms']} ms, {h['seats']} seats")
    print(f"| {'figure':<40} | {'Kamailio':>12} | {'hotlined':>12} | {'hotlined/Kamailio':>17} |")
    print(f"|{'-' * 42}|{'-' * 14}|{'-' * 14}|{'-' * 19}|")
    out = {}
    for name, kv, hv, fmt in rows:
        ratio = ""
        if isinstance(kv, (int, float)) and not isinstance(kv, bool) and isinstance(hv, (int, float)) and kv not in (0, -1) and hv != -1:
            ratio = f"{hv / kv:.2f}"
        elif kv == 0 and hv == 0:
            ratio = "-"
        ks = fmt.format(kv) if kv is not None else "?"
        hs = fmt.format(hv) if hv is not None else "n/a"
        print(f"| {name:<40} | {ks:>12} | {hs:>12} | {ratio:>17} |")
        out[name] = {"kamailio": kv, "hotlined": hv, "ratio": ratio}
    try:
        with open(a["hot_status"]) as f:
            m = json.load(f).get("media", {})
        print(f"hotlined media over the run: {m.get('packets_out')} RTP packets sent (hold prompt), {m.get('packets_in')} received"
              " (the load SIPp scenarios send no RTP, so the relay forwards none); Kamailio does not touch media")
        out["hotlined_rtp_packets_out"], out["hotlined_rtp_packets_in"] = m.get("packets_out"), m.get("packets_in")
    except (OSError, KeyError, ValueError):
        pass
    print("COMPARE " + json.dumps(out, ensure_ascii=False))
    return 0


def main():
    cmd, rest = sys.argv[1], sys.argv[2:]
    if cmd == "snapshot":
        snapshot(int(rest[0]))
    elif cmd == "socket-drops":
        print(socket_drops({int(p) for p in rest}))
    elif cmd == "status":
        try:
            print(json.dumps(status(rest[0])))
        except (OSError, ValueError) as e:
            print(f"/status unanswered: {e}", file=sys.stderr)
            print("{}")
    elif cmd == "sample":
        sample(int(rest[0]), rest[1], float(rest[2]))
    elif cmd == "sample-status":
        sample_status(rest[0], rest[1], float(rest[2]))
    elif cmd == "hold":
        hold(rest[0], int(rest[1]), float(rest[2]), rest[3], dict(kv.split("=", 1) for kv in rest[4:]))
    elif cmd == "wait-conferences":
        return wait_conferences(rest[0], int(rest[1]), float(rest[2]))
    elif cmd == "tone":
        tone(rest[0], rest[1], float(rest[2]), float(rest[3]))
    elif cmd == "seats-available":
        try:
            print(seats_available(rest[0]))
        except (OSError, ValueError):
            print(0)
    elif cmd == "wait-seats":
        return wait_seats(rest[0], int(rest[1]), float(rest[2]))
    elif cmd == "wait-idle":
        wait_idle(rest[0], float(rest[1]))
    elif cmd == "wait-records":
        wait_records(rest[0], int(rest[1]), float(rest[2]))
    elif cmd == "answered":
        print(count_of(counts(glob.glob(rest[0])[0]), "200_Recv", 1) if glob.glob(rest[0]) else 0)
    elif cmd == "threeway-summary":
        return threeway_summary(rest)
    elif cmd == "summary":
        return summary(rest)
    elif cmd == "tree-snapshot":
        tree_snapshot(int(rest[0]))
    elif cmd == "tree-sample":
        tree_sample(int(rest[0]), rest[1], float(rest[2]))
    elif cmd == "tree-max-hwm-mb":
        print(round(max((proc_hwm_kb(p) for p in tree_pids(int(rest[0]))), default=0) / 1024, 1))
    elif cmd == "proxy-summary":
        return proxy_summary(rest)
    elif cmd == "compare":
        return compare(rest)
    else:
        print(f"unknown command {cmd}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
