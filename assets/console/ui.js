// What every page of the console shares: building elements, and saying times, outcomes, reasons
// and progress in words. The DOM is built with createElement (never innerHTML with data), so
// names and addresses from the API are always text.

export const OUTCOMES = ['pending', 'sent', 'resent', 'already_invited', 'already_accepted', 'not_eligible',
  'skipped', 'failed', 'accepted', 'declined', 'no_answer', 'cancelled', 'would_send', 'not_listed'];
export const ACTIVE = new Set(['scheduled', 'running', 'waiting']);
export const FINISHED = new Set(['completed', 'cancelled']);
export const STATES = [['NOT_YET_SENT', 'Not yet sent'], ['INVITED', 'Invited'], ['ACCEPTED', 'Accepted'], ['DECLINED', 'Declined']];

/** An element with attributes (`class`, `for`, data-*, properties for the rest) and children. */
export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') node.className = value;
    else if (key === 'for') node.htmlFor = value;
    else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else if (key.startsWith('data-') || key.startsWith('aria-') || key === 'role' || key === 'tabindex' || key === 'scope') node.setAttribute(key, String(value));
    else node[key] = value;
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

export const $ = (selector) => document.querySelector(selector);

/** A time as the reader writes it, with its time zone ("7 Dec 2026, 21:05 UTC"). */
export function formatTime(value) {
  if (!value) return '—';
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return String(value);
  return date.toLocaleString(undefined, {
    year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', timeZoneName: 'short',
  });
}

/** A day (`2026-11-16`, UTC) as the reader writes dates. */
export function formatDay(value) {
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return String(value || '—');
  return date.toLocaleDateString(undefined, { dateStyle: 'medium', timeZone: 'UTC' });
}

export function formatDuration(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(Number(seconds))) return '—';
  let s = Math.max(0, Math.round(Number(seconds)));
  if (s < 90) return `${s} s`;
  const days = Math.floor(s / 86400);
  s -= days * 86400;
  const hours = Math.floor(s / 3600);
  const minutes = Math.round((s - hours * 3600) / 60);
  if (days) return `${days} d ${hours} h`;
  if (hours) return `${hours} h ${minutes} min`;
  return `${minutes} min`;
}

/** The ETA: a time (or a number of seconds from now), said as "in 5 min (10:42 UTC)". */
export function formatEta(eta) {
  if (eta === null || eta === undefined || eta === '') return '—';
  const at = typeof eta === 'number' ? new Date(Date.now() + eta * 1000) : new Date(eta);
  if (Number.isNaN(at.getTime())) return String(eta);
  const seconds = (at.getTime() - Date.now()) / 1000;
  const clock = at.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit', timeZoneName: 'short' });
  return seconds <= 0 ? `any moment (${clock})` : `in ${formatDuration(seconds)} (${clock})`;
}

export const outcomeLabel = (outcome) => String(outcome || '').replace(/_/g, ' ');

/** Why an item is where it is, in words: the codes of `reason` and of an item's `error`. */
const REASONS = {
  invalid_email: 'The address is not a valid email address.',
  domain_not_allowed: 'The address is outside the domains this gateway may invite.',
  duplicate: 'The same person is on an earlier row of this roster.',
  not_found: 'Google has no unmanaged account with this address.',
  deadline: 'The deadline passed before the person answered.',
  invitation_cancelled: 'The deadline passed; the open invitation was withdrawn.',
  upstream_unavailable: 'Google was unavailable.',
  upstream_timeout: 'Google did not answer in time.',
  upstream_rejected: 'Google refused the request.',
  credentials_misconfigured: 'The gateway\'s Google credentials are wrong.',
  mail_quota_exceeded: 'The daily mail limit was reached.',
  audit_unavailable: 'The audit trail could not be written, so nothing was sent.',
  quota_exhausted: 'The Google call budget was spent.',
  store_unavailable: 'The gateway\'s store was unavailable.',
  address_busy: 'Another request was working on this address.',
};

/** What an outcome means for the person, when there is no more specific reason. */
const OUTCOME_WORDS = {
  would_send: 'Would be mailed by a real run.',
  already_invited: 'Already invited: not mailed again.',
  already_accepted: 'Already accepted: nothing to do.',
  not_eligible: 'Google says the account cannot be invited.',
  not_listed: 'Not in the tracker\'s latest list of accounts: not checked.',
  no_answer: 'Did not answer by the deadline.',
  accepted: 'Accepted the invitation.',
  declined: 'Declined the invitation.',
};

/** The reason of `item` (an item, or a code) as a sentence; '—' when there is none. */
export function reasonText(item) {
  if (typeof item === 'string') return REASONS[item] || outcomeLabel(item);
  if (item.error) return `${REASONS[item.error.code] || outcomeLabel(item.error.code)} ${item.error.detail || ''}`.trim();
  if (item.reason) return REASONS[item.reason] || outcomeLabel(item.reason);
  return OUTCOME_WORDS[item.outcome] || '—';
}

/** Why a campaign waits, in words. */
const WAITING = {
  mail_limit: 'the daily mail limit is reached',
  google_budget: 'the Google call budget is spent',
  breaker_open: 'Google failed repeatedly; calls pause',
  google_unavailable: 'Google is unavailable',
  store_unavailable: 'the store is unavailable',
  audit_unavailable: 'the audit trail cannot be written',
};

/** A real run's items mailed (or found already invited) whose person has not answered yet. */
export const WAITING_FOR_ANSWER = ['sent', 'resent', 'already_invited'];

/**
 * Progress counts only people decided: neither pending, nor (in a real run) waiting for an
 * answer after their mail, nor skipped (rows that are nobody to decide), nor cancelled (never
 * done). In a dry run the classification is the decision. A cancelled run therefore stays at
 * what it reached.
 */
export function progressOf(campaign) {
  const counts = campaign.counts || {};
  const n = (key) => Number(counts[key]) || 0;
  const total = Number(campaign.total) || 0;
  const skipped = n('skipped');
  const cancelled = n('cancelled');
  const people = Math.max(0, total - skipped);
  const waiting = campaign.dryRun ? 0 : WAITING_FOR_ANSWER.reduce((sum, key) => sum + n(key), 0);
  const decided = Math.max(0, people - n('pending') - cancelled - waiting);
  return { total, people, decided, waiting, skipped, cancelled, percent: people ? Math.floor((decided * 100) / people) : 0 };
}

export function progressBar(campaign) {
  const { people, decided, waiting, skipped, cancelled, percent } = progressOf(campaign);
  const label = people ? `${decided} of ${people} decided (${percent}%)` : 'nobody to decide yet';
  const apart = [skipped ? `${skipped} skipped` : '', cancelled ? `${cancelled} cancelled` : ''].filter(Boolean).join(', ');
  return h('div', { class: 'progress', 'data-decided': decided, 'data-waiting': waiting, 'data-people': people, 'data-percent': percent },
    h('progress', { max: 100, value: percent, 'aria-label': `Progress of ${campaign.name || campaign.id}: ${label}` }),
    h('span', { class: 'progress-text' }, label),
    waiting ? h('span', { class: 'progress-waiting small' }, ` · ${waiting} waiting for an answer`) : null,
    apart ? h('span', { class: 'progress-apart small' }, ` · not counted: ${apart}`) : null);
}

export function stateBadge(state) {
  return h('span', { class: `badge state-${state}` }, state);
}

/** Why and until when a waiting campaign waits, or when a scheduled one starts. */
export function stateNote(c) {
  if (c.state === 'waiting') {
    const why = WAITING[c.waitingReason] || (c.waitingReason ? outcomeLabel(c.waitingReason) : '');
    return h('span', { class: 'small waiting-note' },
      why ? ` because ${why}` : '', c.resumesAt ? `, until ${formatTime(c.resumesAt)}` : '');
  }
  if (c.state === 'scheduled' && c.startAt) return h('span', { class: 'small' }, ` for ${formatTime(c.startAt)}`);
  return null;
}

export function countsText(counts) {
  const parts = OUTCOMES.filter((o) => Number((counts || {})[o]) > 0).map((o) => `${outcomeLabel(o)} ${counts[o]}`);
  return parts.length ? parts.join(' · ') : 'none yet';
}

/** The reminders of a campaign in words, with the next one and the end when the view has them. */
export function remindersText(c) {
  if (!c.reminders) return 'none';
  const parts = [`every ${c.reminders.afterHours} h, at most ${c.reminders.max}`];
  if (c.nextReminderAt) parts.push(`next ${formatTime(c.nextReminderAt)}`);
  if (c.endsAt) parts.push(`last ends ${formatTime(c.endsAt)}`);
  return parts.join('; ');
}

/**
 * The items of a campaign as a table: row number, address, outcome, the reason in words, and
 * (unless `brief`: a dry run's review or a resolution, which have no mails) the mails sent.
 */
export function itemsTable(items, outcome, id = 'items-table', brief = false) {
  if (!items.length) return h('p', { class: 'empty' }, outcome ? `No item with outcome ${outcomeLabel(outcome)}.` : 'No items yet.');
  const columns = ['Row', 'Email', 'Outcome', 'Reason', ...(brief ? [] : ['Mails', 'Last mail', 'Updated'])];
  return h('div', { class: 'table-wrap' }, h('table', { class: 'cards', id },
    h('caption', { class: 'visually-hidden' }, outcome ? `Items with outcome ${outcomeLabel(outcome)}` : 'Every item'),
    h('thead', {}, h('tr', {}, columns.map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', {}, items.map((item) => h('tr', { 'data-outcome': item.outcome, 'data-row': item.row ?? '' },
      h('td', { 'data-label': 'Row', class: 'num' }, item.row ? String(item.row) : '—'),
      h('td', { 'data-label': 'Email', class: 'email' }, item.email),
      h('td', { 'data-label': 'Outcome' }, h('span', { class: `badge outcome-${item.outcome}` }, outcomeLabel(item.outcome || ''))),
      h('td', { 'data-label': 'Reason', class: 'small reason' }, reasonText(item)),
      brief ? null : h('td', { 'data-label': 'Mails', class: 'num' }, String(item.mails ?? 0)),
      brief ? null : h('td', { 'data-label': 'Last mail' }, formatTime(item.lastMailAt)),
      brief ? null : h('td', { 'data-label': 'Updated' }, formatTime(item.updatedAt)),
    )))));
}
