// The console: campaigns, a campaign's items and actions, the summary per state and the
// acceptance funnel, all from the public API with the pasted token. Vanilla JS modules, no build
// step. The DOM is built with createElement (never innerHTML with data), so names and addresses
// from the API are always text.

import { ApiFailure, call, describeToken, explain, forgetToken, getJson, getToken, post, query, setToken } from './api.js';
import { funnelChart, legend, SERIES } from './chart.js';

const OUTCOMES = ['pending', 'sent', 'resent', 'already_invited', 'already_accepted', 'not_eligible',
  'skipped', 'failed', 'accepted', 'declined', 'cancelled', 'would_send'];
const ACTIVE = new Set(['scheduled', 'running', 'waiting']);
const FINISHED = new Set(['completed', 'cancelled']);
const STATES = [['NOT_YET_SENT', 'Not yet sent'], ['INVITED', 'Invited'], ['ACCEPTED', 'Accepted'], ['DECLINED', 'Declined']];
const POLL_MS = 3000;
const PAGE_SIZE = 50;

// ---------------------------------------------------------------- small DOM helpers

/** An element with attributes (`class`, `for`, data-*, properties for the rest) and children. */
function h(tag, attrs = {}, ...children) {
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

const $ = (selector) => document.querySelector(selector);

function formatTime(value) {
  if (!value) return '—';
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return String(value);
  return date.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

/** A day (`2026-11-16`, UTC) as the reader writes dates. */
function formatDay(value) {
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return String(value || '—');
  return date.toLocaleDateString(undefined, { dateStyle: 'medium', timeZone: 'UTC' });
}

function formatDuration(seconds) {
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

/** The ETA: a time (or a number of seconds from now), said as "in 5 min (10:42)". */
function formatEta(eta) {
  if (eta === null || eta === undefined || eta === '') return '—';
  const at = typeof eta === 'number' ? new Date(Date.now() + eta * 1000) : new Date(eta);
  if (Number.isNaN(at.getTime())) return String(eta);
  const seconds = (at.getTime() - Date.now()) / 1000;
  const clock = at.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
  return seconds <= 0 ? `any moment (${clock})` : `in ${formatDuration(seconds)} (${clock})`;
}

const outcomeLabel = (outcome) => outcome.replace(/_/g, ' ');

/** Items done out of all: everything that is no longer pending. A campaign without items
 * yet (its list of people not walked yet) is at 0% until it is over. */
function progressOf(campaign) {
  const total = Number(campaign.total) || 0;
  const pending = Number((campaign.counts || {}).pending) || 0;
  const done = Math.max(0, total - pending);
  const over = FINISHED.has(campaign.state);
  return { total, done, percent: total ? Math.floor((done * 100) / total) : over ? 100 : 0 };
}

function progressBar(campaign) {
  const { total, done, percent } = progressOf(campaign);
  const label = total || FINISHED.has(campaign.state) ? `${done} of ${total} done (${percent}%)` : 'no items yet';
  return h('div', { class: 'progress' },
    h('progress', { max: 100, value: percent, 'aria-label': `Progress of ${campaign.name || campaign.id}: ${label}` }),
    h('span', { class: 'progress-text' }, label));
}

function stateBadge(state) {
  return h('span', { class: `badge state-${state}` }, state);
}

/** When a waiting campaign resumes, or a scheduled one starts. */
function stateNote(c) {
  if (c.state === 'waiting' && c.resumesAt) return h('span', { class: 'small' }, ` until ${formatTime(c.resumesAt)}`);
  if (c.state === 'scheduled' && c.startAt) return h('span', { class: 'small' }, ` for ${formatTime(c.startAt)}`);
  return null;
}

function countsText(counts) {
  const parts = OUTCOMES.filter((o) => Number((counts || {})[o]) > 0).map((o) => `${outcomeLabel(o)} ${counts[o]}`);
  return parts.length ? parts.join(' · ') : 'none yet';
}

// ---------------------------------------------------------------- messages

/** Whether the page tries `failure`'s request again by itself (a 429 or 503 with Retry-After). */
function retriesItself(failure) {
  return failure instanceof ApiFailure && failure.retryAfter !== null && (failure.status === 429 || failure.status === 503);
}

/** Calls `fn` again after the Retry-After of `failure`, while the view is shown. */
function retryLater(view, failure, fn) {
  if (retriesItself(failure)) later(view, Math.max(failure.retryAfter, 1) * 1000, fn);
}

/**
 * A message box for `failure` with a Retry button when retrying can help; `retry` is null for
 * actions, which are never repeated by the page.
 */
function failureBox(failure, what, retry) {
  const text = explain(failure, what, Boolean(retry) && retriesItself(failure));
  if (failure instanceof ApiFailure && failure.status === 401) noteTokenRefused();
  const calm = text.unavailable || (failure instanceof ApiFailure && failure.kind === 'no-token');
  return h('div', { class: `message ${calm ? 'info' : 'error'}`, role: calm ? 'status' : 'alert', 'data-status': failure.status ?? '' },
    h('p', { class: 'message-title' }, text.title),
    text.text ? h('p', {}, text.text) : null,
    text.retry && retry ? h('button', { type: 'button', onclick: retry }, 'Retry') : null,
    text.token ? h('button', { type: 'button', onclick: () => $('#token-input').focus() }, 'Go to the token field') : null);
}

function announce(text) {
  const region = $('#announce');
  region.textContent = '';
  // A fresh text node is read even when the words repeat.
  setTimeout(() => { region.textContent = text; }, 50);
}

// ---------------------------------------------------------------- token

function showTokenState() {
  const token = getToken();
  const status = $('#token-status');
  const forget = $('#token-forget');
  forget.disabled = !token;
  if (!token) {
    status.textContent = 'No token: paste one to start.';
    status.className = 'token-status none';
    return;
  }
  const claims = describeToken(token);
  const parts = ['A token is set for this tab'];
  if (claims) {
    if (claims.subject) parts.push(`for ${claims.subject}`);
    if (claims.scopes.length) parts.push(`with ${claims.scopes.join(', ')}`);
    if (claims.expiresAt) {
      parts.push(claims.expiresAt < new Date() ? `(expired ${formatTime(claims.expiresAt)})` : `(expires ${formatTime(claims.expiresAt)})`);
    }
  }
  status.textContent = `${parts.join(' ')}.`;
  status.className = `token-status ${claims && claims.expiresAt && claims.expiresAt < new Date() ? 'expired' : 'set'}`;
}

function noteTokenRefused() {
  const status = $('#token-status');
  status.textContent = 'The gateway refused this token (expired or invalid): paste a fresh one.';
  status.className = 'token-status expired';
}

function setUpToken() {
  $('#token-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const input = $('#token-input');
    // People paste "Bearer eyJ..." too.
    const token = input.value.trim().replace(/^bearer\s+/i, '');
    if (!token) {
      input.setAttribute('aria-invalid', 'true');
      $('#token-status').textContent = 'The field is empty: paste a token first.';
      input.focus();
      return;
    }
    input.removeAttribute('aria-invalid');
    setToken(token);
    input.value = '';
    showTokenState();
    announce('Token set.');
    route();
  });
  $('#token-forget').addEventListener('click', () => {
    forgetToken();
    showTokenState();
    announce('Token forgotten.');
    $('#token-input').focus();
    route();
  });
  showTokenState();
}

// ---------------------------------------------------------------- views and routing

let current = null; // { controller, timers }

function leaveView() {
  if (!current) return;
  current.controller.abort();
  for (const timer of current.timers) clearTimeout(timer);
  current = null;
}

function newView() {
  leaveView();
  current = { controller: new AbortController(), timers: new Set() };
  return current;
}

/** Calls `fn` again in `ms` while this view is shown (and the tab visible). */
function later(view, ms, fn) {
  const timer = setTimeout(() => {
    view.timers.delete(timer);
    if (view !== current) return;
    if (document.hidden) later(view, ms, fn);
    else fn();
  }, ms);
  view.timers.add(timer);
}

function render(...children) {
  const main = $('#main');
  main.replaceChildren(...children);
}

let navigated = false;

/** Moves focus to the new view's heading after a navigation (not on first load). */
function focusHeading() {
  if (!navigated) return;
  const heading = $('#main h2');
  if (heading) heading.focus();
}

function route() {
  const hash = location.hash || '#/campaigns';
  const match = /^#\/campaigns\/([^/?]+)$/.exec(hash);
  for (const link of document.querySelectorAll('nav a')) {
    const active = match ? link.hash === '#/campaigns' : link.hash === hash;
    if (active) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  if (match) showCampaign(decodeURIComponent(match[1]));
  else if (hash === '#/overview') showOverview();
  else showCampaigns();
  focusHeading();
  navigated = true;
}

/** Keeps keyboard focus on "the same" control when a part of the page is drawn again. */
function redraw(container, ...children) {
  const active = document.activeElement;
  const key = active && container.contains(active) ? active.dataset.key : null;
  container.replaceChildren(...children.filter((child) => child !== null && child !== undefined));
  if (key) {
    const again = container.querySelector(`[data-key="${CSS.escape(key)}"]`);
    if (again) again.focus();
  }
}

// ---------------------------------------------------------------- campaigns list

function showCampaigns() {
  const view = newView();
  document.title = 'Campaigns · invitation-gateway console';
  const body = h('div', { id: 'campaigns-body', 'aria-busy': 'true' }, h('p', {}, 'Loading campaigns…'));
  const updated = h('span', { class: 'updated', role: 'status' });
  let pages = 1;
  let nextToken = null;

  async function load() {
    const campaigns = [];
    let token = '';
    try {
      for (let page = 0; page < pages; page += 1) {
        const answer = await getJson(`campaigns${query({ pageSize: PAGE_SIZE, pageToken: token })}`, { signal: view.controller.signal });
        campaigns.push(...(answer.campaigns || []));
        token = answer.nextPageToken || '';
        if (!token) break;
      }
    } catch (failure) {
      if (failure.name === 'AbortError') return;
      body.setAttribute('aria-busy', 'false');
      redraw(body, failureBox(failure, 'campaigns', load));
      retryLater(view, failure, load);
      return;
    }
    if (view !== current) return;
    nextToken = token;
    body.setAttribute('aria-busy', 'false');
    redraw(body, campaignsTable(campaigns), nextToken
      ? h('button', { type: 'button', class: 'more', 'data-key': 'more', onclick: () => { pages += 1; load(); } }, 'Load more campaigns')
      : null);
    updated.textContent = `Updated ${new Date().toLocaleTimeString()}`;
    if (campaigns.some((c) => ACTIVE.has(c.state))) later(view, POLL_MS, load);
  }

  render(
    h('h2', { tabindex: '-1' }, 'Campaigns'),
    h('div', { class: 'toolbar' },
      h('button', { type: 'button', onclick: () => load() }, 'Refresh'), updated),
    body,
  );
  load();
}

function campaignsTable(campaigns) {
  if (!campaigns.length) return h('p', { class: 'empty' }, 'No campaigns yet. Create one with POST /v1/campaigns (see the API documentation).');
  return h('div', { class: 'table-wrap' }, h('table', { class: 'cards', id: 'campaigns-table' },
    h('caption', { class: 'visually-hidden' }, 'Your campaigns, newest first'),
    h('thead', {}, h('tr', {}, ['Campaign', 'State', 'Progress', 'Counts', 'ETA', 'Created'].map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', {}, campaigns.map((c) => h('tr', { 'data-id': c.id, 'data-state': c.state },
      // One child per cell: on a phone each cell is a two-column grid (label, content).
      h('td', { 'data-label': 'Campaign' }, h('span', {},
        h('a', { href: `#/campaigns/${encodeURIComponent(c.id)}`, 'data-key': `open-${c.id}` }, c.name || c.id),
        c.dryRun ? h('span', { class: 'badge dry' }, 'dry run') : null)),
      h('td', { 'data-label': 'State' }, h('span', {}, stateBadge(c.state), stateNote(c))),
      h('td', { 'data-label': 'Progress' }, progressBar(c)),
      h('td', { 'data-label': 'Counts', class: 'small' }, countsText(c.counts)),
      h('td', { 'data-label': 'ETA' }, FINISHED.has(c.state) ? '—' : formatEta(c.eta)),
      h('td', { 'data-label': 'Created' }, formatTime(c.createdAt)),
    )))));
}

// ---------------------------------------------------------------- one campaign

function showCampaign(id) {
  const view = newView();
  const path = `campaigns/${encodeURIComponent(id)}`;
  const heading = h('h2', { tabindex: '-1' }, 'Campaign');
  const summary = h('div', { id: 'campaign-summary', 'aria-busy': 'true' }, h('p', {}, 'Loading the campaign…'));
  const actionStatus = h('div', { id: 'action-status', role: 'status' });
  const buttons = {
    pause: h('button', { type: 'button', id: 'pause', 'data-key': 'pause', onclick: () => act('pause') }, 'Pause'),
    resume: h('button', { type: 'button', id: 'resume', 'data-key': 'resume', onclick: () => act('resume') }, 'Resume'),
    cancel: h('button', { type: 'button', id: 'cancel', class: 'danger', 'data-key': 'cancel', onclick: confirmCancel }, 'Cancel campaign…'),
    report: h('button', { type: 'button', id: 'report', 'data-key': 'report', onclick: downloadReport }, 'Download report (CSV)'),
  };
  const actions = h('div', { class: 'actions', role: 'group', 'aria-label': 'Campaign actions' }, Object.values(buttons));
  const filter = h('select', { id: 'outcome-filter', name: 'outcome', onchange: () => { itemPages = 1; loadItems(); } },
    h('option', { value: '' }, 'All outcomes'), OUTCOMES.map((o) => h('option', { value: o }, outcomeLabel(o))));
  const items = h('div', { id: 'items-body' });
  const countsBox = h('div', { id: 'campaign-counts' });
  let campaign = null;
  let itemPages = 1;
  let lastState = null;

  document.title = 'Campaign · invitation-gateway console';

  function showActions() {
    const state = campaign ? campaign.state : '';
    buttons.pause.disabled = !ACTIVE.has(state);
    buttons.resume.disabled = state !== 'paused';
    buttons.cancel.disabled = !campaign || FINISHED.has(state);
    buttons.report.disabled = !campaign;
  }

  async function load() {
    try {
      campaign = await getJson(path, { signal: view.controller.signal });
    } catch (failure) {
      if (failure.name === 'AbortError') return;
      summary.setAttribute('aria-busy', 'false');
      const box = failure instanceof ApiFailure && failure.status === 404
        ? h('div', { class: 'message info', role: 'status', 'data-status': 404 }, h('p', { class: 'message-title' }, 'No such campaign'),
          h('p', {}, 'There is no campaign with this id for your token, or this gateway does not offer campaigns.'))
        : failureBox(failure, 'this campaign', load);
      redraw(summary, box);
      showActions();
      retryLater(view, failure, load);
      return;
    }
    if (view !== current) return;
    summary.setAttribute('aria-busy', 'false');
    heading.textContent = `Campaign ${campaign.name || campaign.id}`;
    document.title = `${campaign.name || campaign.id} · invitation-gateway console`;
    redraw(summary, campaignFacts(campaign));
    redraw(countsBox, campaignCounts(campaign));
    showActions();
    if (lastState !== null && lastState !== campaign.state) {
      announce(`The campaign is now ${campaign.state}.`);
      loadItems();
    }
    lastState = campaign.state;
    if (ACTIVE.has(campaign.state)) later(view, POLL_MS, load);
  }

  async function loadItems() {
    const outcome = filter.value;
    const rows = [];
    let token = '';
    items.setAttribute('aria-busy', 'true');
    try {
      for (let page = 0; page < itemPages; page += 1) {
        const answer = await getJson(`${path}/items${query({ outcome, pageSize: PAGE_SIZE, pageToken: token })}`, { signal: view.controller.signal });
        rows.push(...(answer.items || []));
        token = answer.nextPageToken || '';
        if (!token) break;
      }
    } catch (failure) {
      if (failure.name === 'AbortError') return;
      items.setAttribute('aria-busy', 'false');
      redraw(items, failureBox(failure, 'the campaign\'s items', loadItems));
      return;
    }
    if (view !== current) return;
    items.setAttribute('aria-busy', 'false');
    redraw(items, itemsTable(rows, outcome), token
      ? h('button', { type: 'button', class: 'more', 'data-key': 'more-items', onclick: () => { itemPages += 1; loadItems(); } }, 'Load more items')
      : null);
  }

  async function act(action) {
    const button = buttons[action];
    button.disabled = true;
    actionStatus.replaceChildren(h('p', {}, `${action === 'pause' ? 'Pausing' : action === 'resume' ? 'Resuming' : 'Cancelling'}…`));
    try {
      const answer = await post(`${path}/${action}`, { signal: view.controller.signal });
      if (answer && answer.id) campaign = answer;
      actionStatus.replaceChildren(h('p', { class: 'ok' }, action === 'pause' ? 'Paused.' : action === 'resume' ? 'Resumed.' : 'Cancelled.'));
    } catch (failure) {
      if (failure.name === 'AbortError') return;
      actionStatus.replaceChildren(failureBox(failure, `to ${action} campaigns`, null));
    }
    // The server has the last word on the state (and starts the polling again when active).
    for (const timer of view.timers) clearTimeout(timer);
    view.timers.clear();
    await load();
  }

  function confirmCancel() {
    const dialog = $('#confirm-dialog');
    $('#confirm-text').textContent = `Cancel "${campaign ? campaign.name || campaign.id : id}"? No more mails go out; mails already sent stay sent. This cannot be undone.`;
    const onClose = () => {
      dialog.removeEventListener('close', onClose);
      if (dialog.returnValue === 'confirm') act('cancel');
      else announce('Nothing was cancelled.');
      buttons.cancel.focus();
    };
    dialog.addEventListener('close', onClose);
    dialog.returnValue = '';
    dialog.showModal();
    $('#confirm-no').focus();
  }

  async function downloadReport() {
    actionStatus.replaceChildren(h('p', {}, 'Preparing the report…'));
    try {
      // The token goes in the header: a plain link would need it in the URL.
      const response = await call(`${path}/report`, { accept: 'text/csv', signal: view.controller.signal });
      const blob = await response.blob();
      const url = URL.createObjectURL(blob);
      const link = h('a', { href: url, download: `campaign-${id}-report.csv`, class: 'visually-hidden' }, 'report');
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
      actionStatus.replaceChildren(h('p', { class: 'ok' }, `Report downloaded (${blob.size} bytes).`));
    } catch (failure) {
      if (failure.name === 'AbortError') return;
      actionStatus.replaceChildren(failureBox(failure, 'campaign reports', downloadReport));
    }
  }

  render(
    h('p', {}, h('a', { href: '#/campaigns' }, '← All campaigns')),
    heading,
    summary,
    actions,
    actionStatus,
    countsBox,
    h('h3', {}, 'Items'),
    h('form', { class: 'filter', onsubmit: (e) => { e.preventDefault(); loadItems(); } },
      h('label', { for: 'outcome-filter' }, 'Show items with outcome'), filter,
      h('button', { type: 'submit' }, 'Refresh items')),
    items,
  );
  showActions();
  load();
  loadItems();
}

function campaignFacts(c) {
  const owner = c.owner ? [c.owner.sub, c.owner.iss].filter(Boolean).join(' @ ') : '—';
  const facts = [
    ['State', h('span', {}, stateBadge(c.state), stateNote(c))],
    ['Progress', progressBar(c)],
    ['ETA', FINISHED.has(c.state) ? '—' : formatEta(c.eta)],
    ['Dry run', c.dryRun ? 'yes (nobody is mailed)' : 'no'],
    ['Resend', c.resend ? 'yes' : 'no'],
    ['Source', c.source && c.source.kind ? c.source.kind : '—'],
    ['Reminders', c.reminders ? `every ${c.reminders.afterHours} h, at most ${c.reminders.max}` : 'none'],
    ['Starts', formatTime(c.startAt)],
    ['Google calls', String(c.googleCalls ?? '—')],
    ['Created', formatTime(c.createdAt)],
    ['Updated', formatTime(c.updatedAt)],
    ['Completed', formatTime(c.completedAt)],
    ['Owner', owner],
    ['Id', h('code', {}, c.id)],
  ];
  return h('div', { class: 'campaign', 'data-state': c.state },
    h('dl', { class: 'facts' }, facts.map(([term, value]) => [h('dt', {}, term), h('dd', {}, value)])));
}

function campaignCounts(c) {
  const counts = OUTCOMES.filter((o) => c.counts && c.counts[o] !== undefined);
  return h('div', {},
    h('h3', {}, 'Counts per outcome'),
    counts.length
      ? h('div', { class: 'table-wrap' }, h('table', { class: 'counts', id: 'counts-table' },
        h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Outcome'), h('th', { scope: 'col', class: 'num' }, 'Items'))),
        h('tbody', {}, counts.map((o) => h('tr', { 'data-outcome': o }, h('th', { scope: 'row' }, outcomeLabel(o)), h('td', { class: 'num' }, String(c.counts[o])))))))
      : h('p', { class: 'empty' }, 'No items yet.'));
}

function itemsTable(items, outcome) {
  if (!items.length) return h('p', { class: 'empty' }, outcome ? `No item with outcome ${outcomeLabel(outcome)}.` : 'No items yet.');
  return h('div', { class: 'table-wrap' }, h('table', { class: 'cards', id: 'items-table' },
    h('caption', { class: 'visually-hidden' }, outcome ? `Items with outcome ${outcomeLabel(outcome)}` : 'Every item'),
    h('thead', {}, h('tr', {}, ['Email', 'Outcome', 'Reason or error', 'Mails', 'Last mail', 'Updated'].map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', {}, items.map((item) => h('tr', { 'data-outcome': item.outcome },
      h('td', { 'data-label': 'Email', class: 'email' }, item.email),
      h('td', { 'data-label': 'Outcome' }, h('span', { class: `badge outcome-${item.outcome}` }, outcomeLabel(item.outcome || ''))),
      h('td', { 'data-label': 'Reason or error', class: 'small' }, item.error ? `${item.error.code}: ${item.error.detail}` : item.reason || '—'),
      h('td', { 'data-label': 'Mails', class: 'num' }, String(item.mails ?? 0)),
      h('td', { 'data-label': 'Last mail' }, formatTime(item.lastMailAt)),
      h('td', { 'data-label': 'Updated' }, formatTime(item.updatedAt)),
    )))));
}

// ---------------------------------------------------------------- summary and funnel

const isoDate = (date) => date.toISOString().slice(0, 10);

function showOverview() {
  const view = newView();
  document.title = 'Summary and funnel · invitation-gateway console';
  const summary = h('div', { id: 'summary-body', 'aria-busy': 'true' }, h('p', {}, 'Loading the summary…'));
  const funnel = h('div', { id: 'funnel-body', 'aria-busy': 'true' }, h('p', {}, 'Loading the funnel…'));
  const today = new Date();
  const from = h('input', { type: 'date', id: 'funnel-from', name: 'from', required: true, value: isoDate(new Date(today.getTime() - 29 * 86400000)) });
  const to = h('input', { type: 'date', id: 'funnel-to', name: 'to', required: true, value: isoDate(today) });
  const bucket = h('select', { id: 'funnel-bucket', name: 'bucket' }, h('option', { value: 'day' }, 'day'), h('option', { value: 'week' }, 'week'));

  async function loadSummary() {
    summary.setAttribute('aria-busy', 'true');
    try {
      const answer = await getJson('invitations/summary', { signal: view.controller.signal });
      if (view !== current) return;
      redraw(summary, summaryTable(answer));
    } catch (failure) {
      if (failure.name === 'AbortError') return;
      redraw(summary, failureBox(failure, 'the summary', loadSummary));
      retryLater(view, failure, loadSummary);
    }
    summary.setAttribute('aria-busy', 'false');
  }

  async function loadFunnel() {
    funnel.setAttribute('aria-busy', 'true');
    if (!from.value || !to.value || from.value > to.value) {
      redraw(funnel, h('div', { class: 'message error', role: 'alert' }, h('p', {}, 'Choose a start date on or before the end date.')));
      funnel.setAttribute('aria-busy', 'false');
      return;
    }
    // Whole UTC days, both included.
    const params = { from: from.value, to: to.value, bucket: bucket.value };
    try {
      const answer = await getJson(`invitations/funnel${query(params)}`, { signal: view.controller.signal });
      if (view !== current) return;
      redraw(funnel, funnelFigure(answer));
    } catch (failure) {
      if (failure.name === 'AbortError') return;
      redraw(funnel, failureBox(failure, 'the acceptance funnel', loadFunnel));
      retryLater(view, failure, loadFunnel);
    }
    funnel.setAttribute('aria-busy', 'false');
  }

  render(
    h('h2', { tabindex: '-1' }, 'Summary and funnel'),
    h('section', { 'aria-labelledby': 'summary-heading' },
      h('div', { class: 'toolbar' }, h('h3', { id: 'summary-heading' }, 'Invitations by state'),
        h('button', { type: 'button', onclick: loadSummary }, 'Refresh summary')),
      summary),
    h('section', { 'aria-labelledby': 'funnel-heading' },
      h('h3', { id: 'funnel-heading' }, 'Acceptance funnel'),
      h('form', { class: 'filter', id: 'funnel-form', onsubmit: (e) => { e.preventDefault(); loadFunnel(); } },
        h('label', { for: 'funnel-from' }, 'From'), from,
        h('label', { for: 'funnel-to' }, 'To'), to,
        h('label', { for: 'funnel-bucket' }, 'Per'), bucket,
        h('button', { type: 'submit' }, 'Show')),
      funnel),
  );
  loadSummary();
  loadFunnel();
}

function summaryTable(answer) {
  const counts = answer.counts || {};
  const total = Number(answer.total) || STATES.reduce((n, [key]) => n + (Number(counts[key]) || 0), 0);
  return h('div', {},
    h('div', { class: 'table-wrap' }, h('table', { class: 'counts', id: 'summary-table' },
      h('caption', { class: 'visually-hidden' }, 'Invitations per state'),
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'State'), h('th', { scope: 'col', class: 'num' }, 'People'), h('th', { scope: 'col' }, 'Share'))),
      h('tbody', {}, STATES.map(([key, label]) => {
        const n = Number(counts[key]) || 0;
        const share = total ? Math.round((n * 100) / total) : 0;
        return h('tr', { 'data-state': key },
          h('th', { scope: 'row' }, label),
          h('td', { class: 'num' }, String(n)),
          h('td', {}, h('meter', { min: 0, max: Math.max(total, 1), value: n, 'aria-label': `${label}: ${share}%` }), ` ${share}%`));
      })),
      h('tfoot', {}, h('tr', {}, h('th', { scope: 'row' }, 'Total'), h('td', { class: 'num', id: 'summary-total' }, String(total)), h('td', {}))))),
    h('p', { class: 'small' }, `As of ${formatTime(answer.asOf)}.`));
}

function funnelFigure(answer) {
  const buckets = Array.isArray(answer.buckets) ? answer.buckets : [];
  const rate = answer.acceptanceRate === null || answer.acceptanceRate === undefined
    ? 'no invitation answered yet' : `${(Number(answer.acceptanceRate) * 100).toFixed(1)}%`;
  return h('figure', { class: 'funnel', id: 'funnel-figure' },
    funnelChart(answer, 'funnel-chart'),
    legend(),
    h('figcaption', {},
      h('span', {}, `Acceptance rate: ${rate}. `),
      h('span', {}, `Median time to accept: ${formatDuration(answer.medianSecondsToAccept)}.`)),
    h('details', {},
      h('summary', {}, 'The chart\'s numbers as a table'),
      h('div', { class: 'table-wrap' }, h('table', { class: 'counts' },
        h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'From'), SERIES.map((s) => h('th', { scope: 'col', class: 'num' }, s.label)))),
        h('tbody', {}, buckets.map((b) => h('tr', {}, h('th', { scope: 'row' }, formatDay(b.start)),
          SERIES.map((s) => h('td', { class: 'num' }, String(Number(b[s.key]) || 0))))))))));
}

// ---------------------------------------------------------------- start

function setUpDialog() {
  const dialog = $('#confirm-dialog');
  $('#confirm-no').addEventListener('click', () => dialog.close('keep'));
  $('#confirm-yes').addEventListener('click', () => dialog.close('confirm'));
}

// Whatever goes wrong in here, the page says so instead of going blank.
function showCrash(error) {
  const alert = $('#alert');
  if (!alert) return;
  alert.replaceChildren(h('div', { class: 'message error' },
    h('p', { class: 'message-title' }, 'The console hit an error'),
    h('p', {}, `${error && error.message ? error.message : error}. Reload the page; your token stays in this tab.`)));
}
window.addEventListener('error', (event) => showCrash(event.error || event.message));
window.addEventListener('unhandledrejection', (event) => showCrash(event.reason));

// The skip link moves focus only: as a plain link it would change the hash, which routes.
document.querySelector('.skip').addEventListener('click', (event) => {
  event.preventDefault();
  $('#main').focus();
});
setUpToken();
setUpDialog();
window.addEventListener('hashchange', route);
route();
if (!getToken()) $('#token-input').focus();
