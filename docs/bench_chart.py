"""Turns `framewire bench` table output into an SVG bar chart of the
framewire / baseline ratios (1.0 = as fast as the bare baseline).

Usage: python3 docs/bench_chart.py docs/bench-run.txt > docs/bench.svg
"""
import re
import sys

rows = []
hmac = False
for line in open(sys.argv[1]):
    if line.startswith("(medians"):
        hmac = "hmac: true" in line
    m = re.match(r"(\w+)\s+(\d+)\s+framewire\s+(.+?)\s{2,}([\d.]+)\s+([\d.]+)x", line)
    if not m:
        continue
    scenario, size, metric, _value, ratio = m.groups()
    if metric.startswith("RSS"):
        continue
    conns = re.search(r"(\d+) conns", line)
    label = f"{scenario} {size} B {metric.strip()}"
    if conns:
        label += f", {conns.group(1)} conn"
    if hmac:
        label += ", HMAC"
    # Latency: lower is better; show baseline/framewire so higher is better everywhere.
    r = float(ratio)
    if "(lower)" in line:
        r = 1 / r
    rows.append((label, r))

bar_h, gap, left, width = 22, 8, 330, 420
scale = width / max(1.6, max(r for _, r in rows) * 1.1)
height = 40 + len(rows) * (bar_h + gap) + 30
out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + width + 80}" height="{height}" font-family="sans-serif" font-size="12">',
       f'<text x="10" y="20" font-size="14" font-weight="bold">framewire vs bare baseline, same run (higher is better; 1.0 = baseline)</text>']
x1 = left + scale
out.append(f'<line x1="{x1:.0f}" y1="30" x2="{x1:.0f}" y2="{height - 20}" stroke="#444" stroke-dasharray="4"/>')
for i, (label, r) in enumerate(rows):
    y = 40 + i * (bar_h + gap)
    color = "#3a7" if r >= 0.85 else "#d84"
    out.append(f'<text x="{left - 8}" y="{y + 15}" text-anchor="end">{label}</text>')
    out.append(f'<rect x="{left}" y="{y}" width="{r * scale:.0f}" height="{bar_h}" fill="{color}"/>')
    out.append(f'<text x="{left + r * scale + 6:.0f}" y="{y + 15}">{r:.2f}</text>')
out.append("</svg>")
print("\n".join(out))
