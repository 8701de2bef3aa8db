// Start a migration from the page: upload a roster as a dry run (its bytes as they are, so every
// encoding and delimiter the API accepts works), review the dry run's classification, then
// start the real run from the same people after a confirmation (`POST /v1/campaigns/{id}/run`).

import { getJson, post, query } from './api.js';
import { FINISHED, OUTCOMES, formatDuration, formatTime, h, itemsTable, outcomeLabel, progressBar } from './ui.js';
import { announce, confirmDialog, failureBox, isCurrent, later, newView, redraw, render, retryLater } from './views.js';

const POLL_MS = 2000;
const PAGE_SIZE = 100;

/** `#/new`: the upload; `#/new/<dry run id>`: its review and the real run. */
export function showMigration(dryRunId) {
  if (dryRunId) showReview(dryRunId);
  else showUpload();
}

function showUpload() {
  const view = newView();
  document.title = 'Start a migration · invitation-gateway console';
  let file = null;
  const status = h('div', { id: 'upload-status', role: 'status' });
  const chosen = h('p', { id: 'roster-chosen', class: 'small' }, 'No file chosen yet.');
  const name = h('input', { id: 'migration-name', name: 'name', required: true, maxLength: 200, value: `Migration ${new Date().toISOString().slice(0, 10)}` });
  const picker = h('input', { type: 'file', id: 'roster-file', name: 'roster', accept: '.csv,.tsv,.txt,text/csv', onchange: () => choose(picker.files[0]) });
  const drop = h('div', { id: 'roster-drop', class: 'drop', 'aria-describedby': 'roster-chosen' },
    h('p', {}, 'Drop the roster file here, or choose it:'), h('label', { for: 'roster-file' }, 'Roster file (CSV, semicolon- or tab-separated)'), picker);
  const submit = h('button', { type: 'submit', id: 'start-dry-run', class: 'primary' }, 'Upload and start the dry run');

  function choose(chosenFile) {
    file = chosenFile || null;
    chosen.textContent = file ? `Chosen: ${file.name} (${file.size} bytes).` : 'No file chosen yet.';
  }
  for (const type of ['dragenter', 'dragover']) {
    drop.addEventListener(type, (event) => { event.preventDefault(); drop.classList.add('over'); });
  }
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (event) => {
    event.preventDefault();
    drop.classList.remove('over');
    choose(event.dataTransfer && event.dataTransfer.files[0]);
  });

  async function upload(event) {
    event.preventDefault();
    if (!file) {
      status.replaceChildren(h('p', { class: 'message error', role: 'alert' }, 'Choose a roster file first.'));
      picker.focus();
      return;
    }
    submit.disabled = true;
    status.replaceChildren(h('p', {}, 'Uploading the roster…'));
    try {
      // The file's bytes as they are: the API reads the encoding (a BOM, UTF-16, Latin-1) and the delimiter.
      const bytes = await file.arrayBuffer();
      const created = await post(`campaigns/roster${query({ name: name.value.trim(), dryRun: 'true' })}`,
        { raw: bytes, contentType: 'text/csv', signal: view.controller.signal });
      announce('Roster uploaded; the dry run has started.');
      location.hash = `#/new/${encodeURIComponent(created.id)}`;
    } catch (failure) {
      if (failure.name === 'AbortError') return;
      submit.disabled = false;
      status.replaceChildren(failureBox(failure, 'roster uploads', null));
    }
  }

  render(
    h('h2', { tabindex: '-1' }, 'Start a migration'),
    h('ol', { class: 'steps' },
      h('li', { 'aria-current': 'step' }, 'Upload the roster: a dry run classifies everybody, nobody is mailed'),
      h('li', {}, 'Review the dry run'),
      h('li', {}, 'Start the real run for the people it would mail')),
    h('form', { id: 'upload-form', class: 'form', onsubmit: upload },
      h('label', { for: 'migration-name' }, 'Name'), name,
      drop, chosen, submit),
    status,
  );
  if (!isCurrent(view)) return;
}

function showReview(id) {
  const view = newView();
  const path = `campaigns/${encodeURIComponent(id)}`;
  document.title = 'Review the dry run · invitation-gateway console';
  const heading = h('h2', { tabindex: '-1' }, 'Review the dry run');
  const summary = h('div', { id: 'review-summary', 'aria-busy': 'true' }, h('p', {}, 'Loading the dry run…'));
  const counts = h('div', { id: 'review-counts' });
  const filter = h('select', { id: 'review-filter', name: 'outcome', onchange: () => loadItems() },
    h('option', { value: '' }, 'All outcomes'), OUTCOMES.map((o) => h('option', { value: o }, outcomeLabel(o))));
  const items = h('div', { id: 'review-items' });
  const runBox = h('div', { id: 'run-box' });
  let dry = null;

  async function load() {
    try {
      dry = await getJson(path, { signal: view.controller.signal });
    } catch (failure) {
      if (failure.name === 'AbortError') return;
      redraw(summary, failureBox(failure, 'this dry run', load));
      retryLater(view, failure, load);
      return;
    }
    if (!isCurrent(view)) return;
    summary.setAttribute('aria-busy', 'false');
    heading.textContent = `Review the dry run ${dry.name || dry.id}`;
    redraw(summary, h('div', { class: 'campaign', 'data-state': dry.state }, progressBar(dry),
      h('p', { class: 'small' }, `State: ${dry.state}. Created ${formatTime(dry.createdAt)}.`,
        dry.completedAt ? ` Completed ${formatTime(dry.completedAt)}.` : '')));
    redraw(counts, countsTable(dry));
    if (!FINISHED.has(dry.state)) {
      later(view, POLL_MS, load);
      return;
    }
    loadItems();
    redraw(runBox, dry.dryRun && dry.state === 'completed' ? runForm(view, dry) : h('p', { class: 'empty' }, 'Only a completed dry run can be started for real.'));
  }

  async function loadItems() {
    const rows = [];
    let token = '';
    items.setAttribute('aria-busy', 'true');
    try {
      do {
        const answer = await getJson(`${path}/items${query({ outcome: filter.value, pageSize: PAGE_SIZE, pageToken: token })}`, { signal: view.controller.signal });
        rows.push(...(answer.items || []));
        token = answer.nextPageToken || '';
      } while (token && rows.length < 1000);
    } catch (failure) {
      if (failure.name === 'AbortError') return;
      redraw(items, failureBox(failure, 'the dry run\'s items', loadItems));
      return;
    }
    if (!isCurrent(view)) return;
    items.setAttribute('aria-busy', 'false');
    redraw(items, itemsTable(rows, filter.value, 'review-table', true), token ? h('p', { class: 'small' }, 'The first 1000 rows; the report has them all.') : null);
  }

  render(
    h('p', {}, h('a', { href: `#/campaigns/${encodeURIComponent(id)}` }, 'Open the dry run as a campaign')),
    heading,
    summary,
    h('h3', {}, 'Classification'),
    counts,
    h('h3', {}, 'Rows'),
    h('form', { class: 'filter', onsubmit: (e) => { e.preventDefault(); loadItems(); } },
      h('label', { for: 'review-filter' }, 'Show rows with outcome'), filter,
      h('button', { type: 'submit' }, 'Show')),
    items,
    h('h3', {}, 'The real run'),
    runBox,
  );
  load();
}

function countsTable(c) {
  const present = OUTCOMES.filter((o) => c.counts && c.counts[o] !== undefined);
  if (!present.length) return h('p', { class: 'empty' }, 'No rows yet.');
  return h('div', { class: 'table-wrap' }, h('table', { class: 'counts', id: 'review-counts-table' },
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Outcome'), h('th', { scope: 'col', class: 'num' }, 'Rows'))),
    h('tbody', {}, present.map((o) => h('tr', { 'data-outcome': o },
      h('th', { scope: 'row' }, outcomeLabel(o)), h('td', { class: 'num' }, String(c.counts[o]))))),
    h('tfoot', {}, h('tr', {}, h('th', { scope: 'row' }, 'Total'), h('td', { class: 'num', id: 'review-total' }, String(c.total))))));
}

/** The real run's form: name, optional reminders and deadline, behind a confirmation. */
function runForm(view, dry) {
  const wouldSend = Number((dry.counts || {}).would_send) || 0;
  const status = h('div', { id: 'run-status', role: 'status' });
  const name = h('input', { id: 'run-name', name: 'name', required: true, maxLength: 200, value: `${dry.name} (real run)` });
  const reminders = h('input', { type: 'checkbox', id: 'run-reminders', name: 'reminders' });
  const afterHours = h('input', { type: 'number', id: 'run-after-hours', name: 'afterHours', min: 1, max: 8760, value: 168 });
  const max = h('input', { type: 'number', id: 'run-max', name: 'max', min: 0, max: 10, value: 2 });
  const deadline = h('input', { type: 'datetime-local', id: 'run-deadline', name: 'deadline', step: 1 });
  const atDeadline = h('select', { id: 'run-at-deadline', name: 'atDeadline' },
    h('option', { value: 'keep' }, 'keep their invitations open'), h('option', { value: 'cancel' }, 'cancel their invitations'));
  const submit = h('button', { type: 'submit', id: 'start-real-run', class: 'primary', disabled: wouldSend === 0 }, 'Start the real run…');

  async function start(event) {
    event.preventDefault();
    const body = { name: name.value.trim() };
    if (reminders.checked) body.reminders = { afterHours: Number(afterHours.value), max: Number(max.value) };
    if (deadline.value) {
      body.deadline = new Date(deadline.value).toISOString();
      body.atDeadline = atDeadline.value;
    }
    const pacing = { people: String(wouldSend) };
    const pace = await paceText(view, wouldSend, pacing);
    const yes = await confirmDialog({
      title: 'Start the real run?',
      text: `${wouldSend} ${wouldSend === 1 ? 'person' : 'people'} will be mailed (the dry run's "would send" rows). ${pace}`,
      yes: `Mail ${wouldSend} ${wouldSend === 1 ? 'person' : 'people'}`,
      no: 'Not now',
      danger: false,
      data: pacing,
    });
    if (!yes) {
      announce('Nothing was started.');
      submit.focus();
      return;
    }
    submit.disabled = true;
    status.replaceChildren(h('p', {}, 'Starting the real run…'));
    try {
      const run = await post(`campaigns/${encodeURIComponent(dry.id)}/run`, { body, signal: view.controller.signal });
      announce('The real run has started.');
      location.hash = `#/campaigns/${encodeURIComponent(run.id)}`;
    } catch (failure) {
      if (failure.name === 'AbortError') return;
      submit.disabled = false;
      status.replaceChildren(failureBox(failure, 'real runs from a dry run', null));
    }
  }

  return h('form', { id: 'run-form', class: 'form', onsubmit: start },
    h('p', { id: 'run-count' }, `${wouldSend} ${wouldSend === 1 ? 'person' : 'people'} would be mailed; everybody else is left alone.`),
    h('label', { for: 'run-name' }, 'Name of the real run'), name,
    h('fieldset', {}, h('legend', {}, 'Reminders (optional)'),
      h('span', { class: 'check' }, reminders, h('label', { for: 'run-reminders' }, 'Remind people who have not answered')),
      h('label', { for: 'run-after-hours' }, 'Hours after the last mail'), afterHours,
      h('label', { for: 'run-max' }, 'At most this many reminders'), max),
    h('fieldset', {}, h('legend', {}, 'Deadline (optional)'),
      h('label', { for: 'run-deadline' }, 'Deadline (your time zone)'), deadline,
      h('label', { for: 'run-at-deadline' }, 'At the deadline, for people who have not answered'), atDeadline),
    submit, status);
}

/** How long mailing `people` takes at the current pace, from the API's pace figures. */
async function paceText(view, people, pacing = {}) {
  try {
    const overview = await getJson('tracking/overview', { signal: view.controller.signal });
    const pace = overview.pace || {};
    // A roster's person costs at most two Google calls (a read and the send), as the API's own
    // campaign ETA counts it while the tracker's snapshot is not fresh.
    const perMinute = Number(pace.campaignCallsPerMinute) || 0;
    const byCalls = perMinute > 0 ? (people * 2 * 60) / perMinute : null;
    const perDay = Number(pace.mailsPerDayPerCaller) || 0;
    const byMails = perDay > 0 ? Math.floor(Math.max(0, people - 1) / perDay) * 86400 : 0;
    if (byCalls === null) return 'The pace is unknown.';
    const seconds = Math.max(byCalls, byMails);
    Object.assign(pacing, { seconds: String(seconds), callsPerMinute: String(perMinute), mailsPerDay: String(perDay) });
    return `At the current pace (${perMinute} Google calls a minute for campaigns, ${perDay || 'no'} mails a day per caller) that takes about ${formatDuration(seconds)}, until about ${formatTime(new Date(Date.now() + seconds * 1000))}.`;
  } catch {
    return 'The pace could not be read.';
  }
}
