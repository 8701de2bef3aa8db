// The acceptance funnel over time as plain SVG: one line per series (invited, accepted,
// declined), each with its own colour, dash pattern and marker shape so that colour is never the
// only difference. No chart library: a few dozen lines do, and nothing external is loaded.

// The SVG namespace, from the browser's own parser (so no file of the console holds a URL).
const SVG = (() => {
  const template = document.createElement('template');
  template.innerHTML = '<svg></svg>';
  return template.content.firstChild.namespaceURI;
})();

export const SERIES = [
  { key: 'invited', label: 'Invited', marker: 'circle' },
  { key: 'accepted', label: 'Accepted', marker: 'square' },
  { key: 'declined', label: 'Declined', marker: 'triangle' },
];

function el(name, attrs = {}, ...children) {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  for (const child of children) node.append(child);
  return node;
}

/** A round upper bound and tick step for values up to `max`. */
export function niceScale(max, ticks = 4) {
  if (!(max > 0)) return { top: 1, step: 1 };
  const rough = max / ticks;
  const power = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= rough) || 10 * power;
  const whole = Math.max(1, Math.round(step));
  return { top: Math.ceil(max / whole) * whole, step: whole };
}

/** The label of a bucket's start: "2 Dec" (UTC, the buckets' own time zone). */
export function bucketLabel(start) {
  const date = new Date(start);
  if (Number.isNaN(date.getTime())) return String(start);
  return date.toLocaleDateString('en-GB', { day: 'numeric', month: 'short', timeZone: 'UTC' });
}

function marker(shape, x, y) {
  switch (shape) {
    case 'square':
      return el('rect', { x: x - 3.5, y: y - 3.5, width: 7, height: 7 });
    case 'triangle':
      return el('path', { d: `M ${x} ${y - 4.5} L ${x + 4.5} ${y + 3.5} L ${x - 4.5} ${y + 3.5} Z` });
    default:
      return el('circle', { cx: x, cy: y, r: 4 });
  }
}

/**
 * The chart of `funnel.buckets` as an <svg> with a title and a description a screen reader
 * reads; `id` prefixes the ids it needs.
 */
export function funnelChart(funnel, id = 'funnel') {
  const buckets = Array.isArray(funnel.buckets) ? funnel.buckets : [];
  const width = 720;
  const height = 300;
  const left = 48;
  const right = 16;
  const top = 16;
  const bottom = 44;
  const plotWidth = width - left - right;
  const plotHeight = height - top - bottom;
  const totals = Object.fromEntries(SERIES.map((s) => [s.key, buckets.reduce((n, b) => n + (Number(b[s.key]) || 0), 0)]));
  const max = Math.max(0, ...buckets.flatMap((b) => SERIES.map((s) => Number(b[s.key]) || 0)));
  const { top: yTop, step } = niceScale(max);
  const x = (i) => left + (buckets.length <= 1 ? plotWidth / 2 : (i * plotWidth) / (buckets.length - 1));
  const y = (v) => top + plotHeight - (v / yTop) * plotHeight;

  const titleId = `${id}-title`;
  const descId = `${id}-desc`;
  const first = buckets.length ? bucketLabel(buckets[0].start) : '';
  const last = buckets.length ? bucketLabel(buckets[buckets.length - 1].start) : '';
  const svg = el('svg', {
    viewBox: `0 0 ${width} ${height}`,
    role: 'img',
    'aria-labelledby': `${titleId} ${descId}`,
    class: 'chart',
    'data-buckets': buckets.length,
    'data-invited': totals.invited,
    'data-accepted': totals.accepted,
    'data-declined': totals.declined,
  });
  svg.append(
    el('title', { id: titleId }, 'Invitations per ' + (funnel.bucket || 'day')),
    el('desc', { id: descId }, buckets.length
      ? `From ${first} to ${last}: ${SERIES.map((s) => `${s.label.toLowerCase()} ${totals[s.key]}`).join(', ')}.`
      : 'No data in this period.'),
  );

  const grid = el('g', { class: 'grid', 'aria-hidden': 'true' });
  for (let v = 0; v <= yTop; v += step) {
    grid.append(
      el('line', { x1: left, x2: width - right, y1: y(v), y2: y(v) }),
      el('text', { x: left - 8, y: y(v) + 4, 'text-anchor': 'end', class: 'tick' }, String(v)),
    );
  }
  const every = Math.max(1, Math.ceil(buckets.length / 8));
  const lastIndex = buckets.length - 1;
  buckets.forEach((b, i) => {
    // The last bucket is labelled too, unless that would crowd the label before it.
    if (i % every === 0 || (i === lastIndex && (every === 1 || lastIndex % every >= every / 2))) {
      grid.append(el('text', { x: x(i), y: height - bottom + 20, 'text-anchor': 'middle', class: 'tick' }, bucketLabel(b.start)));
    }
  });
  grid.append(el('line', { class: 'axis', x1: left, x2: width - right, y1: y(0), y2: y(0) }));
  svg.append(grid);

  for (const series of SERIES) {
    const group = el('g', { class: `series series-${series.key}` });
    if (buckets.length > 1) {
      const d = buckets.map((b, i) => `${i ? 'L' : 'M'} ${x(i).toFixed(1)} ${y(Number(b[series.key]) || 0).toFixed(1)}`).join(' ');
      group.append(el('path', { d, class: 'line', fill: 'none' }));
    }
    buckets.forEach((b, i) => {
      const value = Number(b[series.key]) || 0;
      const point = marker(series.marker, x(i), y(value));
      point.setAttribute('class', 'point');
      point.append(el('title', {}, `${bucketLabel(b.start)}: ${series.label.toLowerCase()} ${value}`));
      group.append(point);
    });
    svg.append(group);
  }
  return svg;
}

/** The legend (HTML, so it wraps on a phone), each entry drawn like its series. */
export function legend() {
  const list = document.createElement('ul');
  list.className = 'legend';
  for (const series of SERIES) {
    const item = document.createElement('li');
    const sample = el('svg', { viewBox: '0 0 28 12', width: 28, height: 12, 'aria-hidden': 'true', class: `series series-${series.key}` },
      el('path', { d: 'M 0 6 L 28 6', class: 'line', fill: 'none' }), marker(series.marker, 14, 6));
    item.append(sample, ` ${series.label}`);
    list.append(item);
  }
  return list;
}

/** The states of the overview, bottom of the stack first (resolved people at the bottom). */
export const STACK = [
  { key: 'ACCEPTED', label: 'Accepted' },
  { key: 'DECLINED', label: 'Declined' },
  { key: 'INVITED', label: 'Invited' },
  { key: 'NOT_YET_SENT', label: 'Not yet sent' },
];

/**
 * People by state over time as stacked bars (one bar a day, one band a state; each band has its
 * own colour and pattern, and the table under the chart has the numbers).
 */
export function stackedChart(days, id = 'overview') {
  const width = 720;
  const height = 300;
  const left = 48;
  const right = 16;
  const top = 16;
  const bottom = 44;
  const plotWidth = width - left - right;
  const plotHeight = height - top - bottom;
  const total = (d) => STACK.reduce((n, s) => n + (Number(d.counts[s.key]) || 0), 0);
  const { top: yTop, step } = niceScale(Math.max(0, ...days.map(total)));
  const band = plotWidth / Math.max(days.length, 1);
  const y = (v) => top + plotHeight - (v / yTop) * plotHeight;
  const last = days[days.length - 1];
  const svg = el('svg', {
    viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-labelledby': `${id}-title ${id}-desc`, class: 'chart stacked',
    'data-days': days.length, ...Object.fromEntries(STACK.map((s) => [`data-${s.key.toLowerCase().replace(/_/g, '-')}`, last ? Number(last.counts[s.key]) || 0 : 0])),
  });
  svg.append(
    el('title', { id: `${id}-title` }, 'People by state at the end of each day'),
    el('desc', { id: `${id}-desc` }, last
      ? `On ${bucketLabel(last.day)}: ${STACK.map((s) => `${s.label.toLowerCase()} ${Number(last.counts[s.key]) || 0}`).join(', ')}.`
      : 'No data.'),
  );
  const grid = el('g', { class: 'grid', 'aria-hidden': 'true' });
  for (let v = 0; v <= yTop; v += step) {
    grid.append(el('line', { x1: left, x2: width - right, y1: y(v), y2: y(v) }),
      el('text', { x: left - 8, y: y(v) + 4, 'text-anchor': 'end', class: 'tick' }, String(v)));
  }
  const every = Math.max(1, Math.ceil(days.length / 8));
  days.forEach((d, i) => {
    if (i % every === 0) grid.append(el('text', { x: left + band * (i + 0.5), y: height - bottom + 20, 'text-anchor': 'middle', class: 'tick' }, bucketLabel(d.day)));
  });
  svg.append(grid);
  days.forEach((d, i) => {
    let base = 0;
    for (const s of STACK) {
      const n = Number(d.counts[s.key]) || 0;
      if (n > 0) {
        const rect = el('rect', { class: `band band-${s.key.toLowerCase()}`, x: left + band * i + band * 0.1, width: band * 0.8, y: y(base + n), height: y(base) - y(base + n) });
        rect.append(el('title', {}, `${bucketLabel(d.day)}: ${s.label.toLowerCase()} ${n}`));
        svg.append(rect);
      }
      base += n;
    }
  });
  return svg;
}

/** The legend of the stacked chart. */
export function stackLegend() {
  const list = document.createElement('ul');
  list.className = 'legend';
  for (const s of STACK) {
    const item = document.createElement('li');
    item.append(el('svg', { viewBox: '0 0 14 14', width: 14, height: 14, 'aria-hidden': 'true' },
      el('rect', { class: `band band-${s.key.toLowerCase()}`, x: 0, y: 0, width: 14, height: 14 })), ` ${s.label}`);
    list.append(item);
  }
  return list;
}
