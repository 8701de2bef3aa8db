// The console: campaigns, a campaign's items and actions, the summary per state and the
// acceptance funnel, all from the public API with the pasted token. Vanilla JS modules, no build
// step. The DOM is built with createElement (never innerHTML with data), so names and addresses
// from the API are always text.

import { ApiFailure, call, describeToken, forgetToken, getJson, getToken, post, query, setToken } from './api.js';
import { funnelChart, legend, SERIES, STACK, stackedChart, stackLegend } from './chart.js';
import { showMigration } from './migration.js';
import { showPerson } from './person.js';
import {
  $, ACTIVE, FINISHED, OUTCOMES, STATES, countsText, formatDay, formatDuration, formatEta, formatTime, h, outcomeLabel,
  itemsTable, progressBar, remindersText, stateBadge, stateNote,
} from './ui.js';
import { announce, confirmDialog, facts, failureBox, isCurrent, later, newView, redraw, render, retryLater, stopTimers } from './views.js';

const POLL_MS = 3000;
const PAGE_SIZE = 50;

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
    const active = match ? link.hash === '#/campaigns' : link.hash === hash || (hash.startsWith('#/new/') && link.hash === '#/new');
    if (active) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  const review = /^#\/new\/([^/?]+)$/.exec(hash);
  if (match) showCampaign(decodeURIComponent(match[1]));
  else if (review) showMigration(decodeURIComponent(review[1]));
  else if (hash === '#/new') showMigration(null);
  else if (hash === '#/person') showPerson();
  else if (hash === '#/overview') showOverview();
  else showCampaigns();
  focusHeading();
  navigated = true;
}

// ---------------------------------------------------------------- campaigns list

function showCampaigns() {
  const view = newView();
  document.title = 'Campaigns · invitation-gateway console';
  const body = h('div', { id: 'campaigns-body', 'aria-busy': 'true' }, h('p', {}, 'Loading campaigns…'));
  const updated = h('span', { class: 'updated', role: 'status' });
  const archived = h('input', { type: 'checkbox', id: 'show-archived', onchange: () => { pages = 1; load(); } });
  let pages = 1;
  let nextToken = null;

  async function load() {
    const campaigns = [];
    let token = '';
    try {
      for (let page = 0; page < pages; page += 1) {
        const params = { pageSize: PAGE_SIZE, pageToken: token, archived: archived.checked ? 'true' : '' };
        const answer = await getJson(`campaigns${query(params)}`, { signal: view.controller.signal });
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
    if (!isCurrent(view)) return;
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
      h('button', { type: 'button', onclick: () => load() }, 'Refresh'),
      h('span', { class: 'check' }, archived, h('label', { for: 'show-archived' }, 'Show archived dry runs')),
      h('a', { href: '#/new', class: 'button-link' }, 'Start a migration'), updated),
    body,
  );
  load();
}

function campaignsTable(campaigns) {
  if (!campaigns.length) return h('p', { class: 'empty' }, 'No campaigns yet. Start a migration from a roster, or create one with POST /v1/campaigns.');
  return h('div', { class: 'table-wrap' }, h('table', { class: 'cards', id: 'campaigns-table' },
    h('caption', { class: 'visually-hidden' }, 'Your campaigns, newest first'),
    h('thead', {}, h('tr', {}, ['Campaign', 'State', 'Progress', 'Counts', 'ETA', 'Created'].map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', {}, campaigns.map((c) => h('tr', { 'data-id': c.id, 'data-state': c.state, 'data-archived': c.archivedAt ? 'true' : 'false' },
      // One child per cell: on a phone each cell is a two-column grid (label, content).
      h('td', { 'data-label': 'Campaign' }, h('span', {},
        h('a', { href: `#/campaigns/${encodeURIComponent(c.id)}`, 'data-key': `open-${c.id}` }, c.name || c.id),
        c.dryRun ? h('span', { class: 'badge dry' }, 'dry run') : null,
        c.archivedAt ? h('span', { class: 'badge archived' }, 'archived') : null)),
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
    archive: h('button', { type: 'button', id: 'archive', 'data-key': 'archive', onclick: () => act(campaign && campaign.archivedAt ? 'unarchive' : 'archive') }, 'Archive dry run'),
  };
  const runLink = h('a', { href: `#/new/${encodeURIComponent(id)}`, id: 'review-run', class: 'button-link', hidden: true }, 'Review and start the real run');
  const actions = h('div', { class: 'actions', role: 'group', 'aria-label': 'Campaign actions' }, Object.values(buttons), runLink);
  const filter = h('select', { id: 'outcome-filter', name: 'outcome', onchange: () => { itemPages = 1; loadItems(); } },
    h('option', { value: '' }, 'All outcomes'), OUTCOMES.map((o) => h('option', { value: o }, outcomeLabel(o))));
  const items = h('div', { id: 'items-body' });
  const countsBox = h('div', { id: 'campaign-counts' });
  const resolutionBox = h('section', { id: 'resolution-body', 'aria-live': 'polite' });
  let resolutionShown = false;
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
    // Only a finished dry run can be archived (the API refuses the rest).
    const finishedDry = Boolean(campaign && campaign.dryRun && FINISHED.has(state));
    buttons.archive.hidden = !finishedDry;
    buttons.archive.disabled = !finishedDry;
    buttons.archive.textContent = campaign && campaign.archivedAt ? 'Unarchive dry run' : 'Archive dry run';
    runLink.hidden = !(campaign && campaign.dryRun && state === 'completed');
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
    if (!isCurrent(view)) return;
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
    if (!resolutionShown && resolvable(campaign)) {
      resolutionShown = true;
      showResolution(view, path, resolutionBox);
    }
    // A run may complete before its deadline: it is watched until the deadline is passed.
    const deadlinePending = campaign.deadline && !campaign.deadlineReachedAt && campaign.state !== 'cancelled';
    if (ACTIVE.has(campaign.state) || deadlinePending) later(view, POLL_MS, load);
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
    if (!isCurrent(view)) return;
    items.setAttribute('aria-busy', 'false');
    redraw(items, itemsTable(rows, outcome), token
      ? h('button', { type: 'button', class: 'more', 'data-key': 'more-items', onclick: () => { itemPages += 1; loadItems(); } }, 'Load more items')
      : null);
  }

  const WORDS = {
    pause: ['Pausing', 'Paused.'], resume: ['Resuming', 'Resumed.'], cancel: ['Cancelling', 'Cancelled.'],
    archive: ['Archiving', 'Archived: the list leaves it out unless "Show archived dry runs" is on.'],
    unarchive: ['Unarchiving', 'Listed again.'],
  };

  async function act(action) {
    const button = buttons[action] || buttons.archive;
    button.disabled = true;
    actionStatus.replaceChildren(h('p', {}, `${WORDS[action][0]}…`));
    try {
      const answer = await post(`${path}/${action}`, { signal: view.controller.signal });
      if (answer && answer.id) campaign = answer;
      actionStatus.replaceChildren(h('p', { class: 'ok' }, WORDS[action][1]));
    } catch (failure) {
      if (failure.name === 'AbortError') return;
      actionStatus.replaceChildren(failureBox(failure, `to ${action} campaigns`, null));
    }
    // The server has the last word on the state (and starts the polling again when active).
    stopTimers(view);
    await load();
    // Disabling it while acting took the focus away: a keyboard user gets it back.
    if (isCurrent(view) && !button.disabled && !button.hidden) button.focus();
  }

  async function confirmCancel() {
    const yes = await confirmDialog({
      title: 'Cancel the campaign?',
      text: `Cancel "${campaign ? campaign.name || campaign.id : id}"? No more mails go out; mails already sent stay sent. This cannot be undone.`,
      yes: 'Cancel the campaign',
      no: 'Keep the campaign',
    });
    if (yes) act('cancel');
    else announce('Nothing was cancelled.');
    buttons.cancel.focus();
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
    resolutionBox,
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
  const pairs = [
    ['State', h('span', {}, stateBadge(c.state), stateNote(c))],
    ['Progress', progressBar(c)],
    ['ETA', FINISHED.has(c.state) ? '—' : formatEta(c.eta)],
    ['Dry run', c.dryRun ? 'yes (nobody is mailed)' : 'no'],
    ['Resend', c.resend ? 'yes' : 'no'],
    ['Source', c.source && c.source.kind ? c.source.kind : '—'],
    ['Reminders', remindersText(c)],
    ['Starts', formatTime(c.startAt)],
    c.deadline ? ['Deadline', `${formatTime(c.deadline)} (then ${c.atDeadline === 'cancel' ? 'open invitations are cancelled' : 'open invitations are kept'})`] : null,
    c.deadlineReachedAt ? ['Deadline reached', formatTime(c.deadlineReachedAt)] : null,
    c.fromDryRun ? ['From dry run', h('a', { href: `#/campaigns/${encodeURIComponent(c.fromDryRun)}` }, c.fromDryRun)] : null,
    c.archivedAt ? ['Archived', formatTime(c.archivedAt)] : null,
    ['Google calls', String(c.googleCalls ?? '—')],
    ['Created', formatTime(c.createdAt)],
    ['Updated', formatTime(c.updatedAt)],
    ['Completed', formatTime(c.completedAt)],
    ['Owner', owner],
    ['Id', h('code', {}, c.id)],
  ];
  return h('div', { class: 'campaign', 'data-state': c.state, 'data-archived': c.archivedAt ? 'true' : 'false' },
    facts(pairs.filter(Boolean)));
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

// ---------------------------------------------------------------- a campaign's resolution

/** A real run has its resolution once its deadline is reached (without a deadline, once completed). */
const resolvable = (c) => !c.dryRun && (c.deadline ? Boolean(c.deadlineReachedAt) : c.state === 'completed');

/** Every person's final outcome (`GET .../resolution` as NDJSON): counts, then the people. */
async function showResolution(view, path, box) {
  box.replaceChildren(h('h3', {}, 'Resolution'), h('p', {}, 'Loading the resolution…'));
  let rows;
  try {
    const response = await call(`${path}/resolution`, { accept: 'application/x-ndjson', signal: view.controller.signal });
    rows = (await response.text()).split('\n').filter((line) => line.trim()).map((line) => JSON.parse(line));
  } catch (failure) {
    if (failure.name === 'AbortError') return;
    box.replaceChildren(h('h3', {}, 'Resolution'), failureBox(failure, 'campaign resolutions', null));
    return;
  }
  if (!isCurrent(view)) return;
  const counts = {};
  for (const row of rows) counts[row.outcome] = (counts[row.outcome] || 0) + 1;
  box.replaceChildren(h('h3', {}, 'Resolution'),
    h('p', { class: 'small' }, 'Every person\'s final outcome. The people who declined or did not answer are the hand-off to whoever creates their managed accounts.'),
    h('div', { class: 'table-wrap' }, h('table', { class: 'counts', id: 'resolution-counts' },
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Final outcome'), h('th', { scope: 'col', class: 'num' }, 'People'))),
      h('tbody', {}, Object.keys(counts).sort().map((o) => h('tr', { 'data-outcome': o },
        h('th', { scope: 'row' }, outcomeLabel(o)), h('td', { class: 'num' }, String(counts[o]))))))),
    itemsTable(rows, '', 'resolution-table', true));
}

// ---------------------------------------------------------------- summary and funnel

const isoDate = (date) => date.toISOString().slice(0, 10);

function showOverview() {
  const view = newView();
  document.title = 'Overview · invitation-gateway console';
  const whole = h('div', { id: 'overview-body', 'aria-busy': 'true' }, h('p', {}, 'Loading the overview…'));
  const summary = h('div', { id: 'summary-body', 'aria-busy': 'true' }, h('p', {}, 'Loading the summary…'));
  const funnel = h('div', { id: 'funnel-body', 'aria-busy': 'true' }, h('p', {}, 'Loading the funnel…'));
  const today = new Date();
  const from = h('input', { type: 'date', id: 'funnel-from', name: 'from', required: true, value: isoDate(new Date(today.getTime() - 29 * 86400000)) });
  const to = h('input', { type: 'date', id: 'funnel-to', name: 'to', required: true, value: isoDate(today) });
  const bucket = h('select', { id: 'funnel-bucket', name: 'bucket' }, h('option', { value: 'day' }, 'day'), h('option', { value: 'week' }, 'week'));

  async function loadOverview() {
    whole.setAttribute('aria-busy', 'true');
    try {
      const answer = await getJson('tracking/overview?days=14', { signal: view.controller.signal });
      if (!isCurrent(view)) return;
      redraw(whole, overviewFigure(answer));
    } catch (failure) {
      if (failure.name === 'AbortError') return;
      redraw(whole, failureBox(failure, 'the overview', loadOverview));
      retryLater(view, failure, loadOverview);
    }
    whole.setAttribute('aria-busy', 'false');
  }

  async function loadSummary() {
    summary.setAttribute('aria-busy', 'true');
    try {
      const answer = await getJson('invitations/summary', { signal: view.controller.signal });
      if (!isCurrent(view)) return;
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
      if (!isCurrent(view)) return;
      redraw(funnel, funnelFigure(answer));
    } catch (failure) {
      if (failure.name === 'AbortError') return;
      redraw(funnel, failureBox(failure, 'the acceptance funnel', loadFunnel));
      retryLater(view, failure, loadFunnel);
    }
    funnel.setAttribute('aria-busy', 'false');
  }

  render(
    h('h2', { tabindex: '-1' }, 'Overview'),
    h('section', { 'aria-labelledby': 'overview-heading' },
      h('div', { class: 'toolbar' }, h('h3', { id: 'overview-heading' }, 'The migration: people by state over time'),
        h('button', { type: 'button', onclick: loadOverview }, 'Refresh overview')),
      whole),
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
  loadOverview();
  loadSummary();
  loadFunnel();
}

function overviewFigure(answer) {
  const days = Array.isArray(answer.days) ? answer.days : [];
  const share = `${(Number(answer.shareResolved) * 100).toFixed(1)}%`;
  return h('figure', { class: 'funnel', id: 'overview-figure' },
    facts([
      ['Resolved (accepted or declined)', h('span', {}, h('span', { id: 'overview-resolved' }, String(answer.resolved)), ' of ',
        h('span', { id: 'overview-people' }, String(answer.people)), ' people (', h('span', { id: 'overview-share' }, share), ')')],
      ['Pace', h('span', { id: 'overview-pace', 'data-days': answer.paceDays ?? '' }, answer.paceDays
        ? `${Number(answer.resolvedPerDay).toFixed(1)} people resolved a day over ${answer.paceDays} ${answer.paceDays === 1 ? 'day' : 'days'} (since ${formatDay(answer.paceSince)}; people first seen already resolved do not count)`
        : 'no pace yet: nobody is known')],
      ['Projected completion', h('span', { id: 'overview-projected' }, answer.projectedCompletion ? formatDay(answer.projectedCompletion) : 'not projected: nobody was resolved in this period')],
    ]),
    stackedChart(days, 'overview-chart'),
    stackLegend(),
    h('details', {},
      h('summary', {}, 'The chart\'s numbers as a table'),
      h('div', { class: 'table-wrap' }, h('table', { class: 'counts', id: 'overview-table' },
        h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Day'), STACK.map((st) => h('th', { scope: 'col', class: 'num' }, st.label)))),
        h('tbody', {}, days.map((d) => h('tr', {}, h('th', { scope: 'row' }, formatDay(d.day)),
          STACK.map((st) => h('td', { class: 'num' }, String(Number(d.counts[st.key]) || 0))))))))));
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
window.addEventListener('hashchange', route);
route();
if (!getToken()) $('#token-input').focus();
