// Find a person: an address in (a form, sent in a POST body, never in the URL), everything the
// gateway knows out: the tracked state, the history, their campaign items, their audit records.

import { post } from './api.js';
import { formatTime, h, outcomeLabel, reasonText } from './ui.js';
import { announce, facts, failureBox, isCurrent, newView, redraw, render } from './views.js';

export function showPerson() {
  const view = newView();
  document.title = 'Find a person · invitation-gateway console';
  const email = h('input', { type: 'email', id: 'person-email', name: 'email', required: true, autocomplete: 'off', spellcheck: false });
  const body = h('div', { id: 'person-body' });

  async function find(event) {
    event.preventDefault();
    const address = email.value.trim();
    if (!address) {
      email.setAttribute('aria-invalid', 'true');
      redraw(body, h('p', { class: 'message error', role: 'alert' }, 'Type an address first.'));
      email.focus();
      return;
    }
    email.removeAttribute('aria-invalid');
    body.setAttribute('aria-busy', 'true');
    try {
      const person = await post('people/lookup', { body: { email: address }, signal: view.controller.signal });
      if (!isCurrent(view)) return;
      redraw(body, personView(person));
      announce('Person found.');
    } catch (failure) {
      if (failure.name === 'AbortError') return;
      redraw(body, failureBox(failure, 'person lookups', null));
    }
    body.setAttribute('aria-busy', 'false');
  }

  render(
    h('h2', { tabindex: '-1' }, 'Find a person'),
    h('form', { id: 'person-form', class: 'filter', onsubmit: find },
      h('label', { for: 'person-email' }, 'Email address'), email,
      h('button', { type: 'submit', id: 'person-find' }, 'Find')),
    h('p', { class: 'small' }, 'The address is sent in the request body only, never in a URL.'),
    body,
  );
}

function personView(person) {
  const history = person.history || [];
  const items = person.campaignItems || [];
  return h('div', { id: 'person-view', 'data-state': person.state || '' },
    facts([
      ['Address', h('span', { class: 'email' }, person.email)],
      ['State now', h('span', { id: 'person-state' }, person.state ? outcomeLabel(person.state.toLowerCase()) : 'never seen by the gateway')],
    ]),
    h('h3', {}, 'History'),
    history.length
      ? h('ol', { id: 'person-history' }, history.map((change) => h('li', { 'data-change': change.state },
        `${outcomeLabel(change.state)}: ${formatTime(change.at)}`)))
      : h('p', { class: 'empty' }, 'No recorded change.'),
    h('h3', {}, 'Campaigns'),
    items.length
      ? h('div', { class: 'table-wrap' }, h('table', { class: 'cards', id: 'person-items' },
        h('thead', {}, h('tr', {}, ['Campaign', 'Outcome', 'Reason', 'Mails', 'Updated'].map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', {}, items.map((item) => h('tr', { 'data-campaign': item.campaignId, 'data-outcome': item.outcome },
          h('td', { 'data-label': 'Campaign' }, h('a', { href: `#/campaigns/${encodeURIComponent(item.campaignId)}` }, item.campaignName || item.campaignId),
            item.dryRun ? h('span', { class: 'badge dry' }, 'dry run') : null),
          h('td', { 'data-label': 'Outcome' }, h('span', { class: `badge outcome-${item.outcome}` }, outcomeLabel(item.outcome))),
          h('td', { 'data-label': 'Reason', class: 'small' }, reasonText(item)),
          h('td', { 'data-label': 'Mails', class: 'num' }, String(item.mails ?? 0)),
          h('td', { 'data-label': 'Updated' }, formatTime(item.updatedAt)))))))
      : h('p', { class: 'empty' }, 'In none of your campaigns.'),
    h('h3', {}, 'Audit records'),
    person.auditHidden
      ? h('p', { class: 'empty', id: 'person-audit-hidden' }, 'Hidden: your token lacks the audit.read scope.')
      : auditTable(person.audit || []));
}

function auditTable(records) {
  if (!records.length) return h('p', { class: 'empty' }, 'No audit record about this person.');
  return h('div', { class: 'table-wrap' }, h('table', { class: 'cards', id: 'person-audit' },
    h('thead', {}, h('tr', {}, ['When', 'Action', 'Outcome', 'By', 'Campaign'].map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', {}, records.map((r) => h('tr', { 'data-action': r.action, 'data-outcome': r.outcome },
      h('td', { 'data-label': 'When' }, formatTime(r.recordedAt)),
      h('td', { 'data-label': 'Action' }, r.action),
      h('td', { 'data-label': 'Outcome' }, outcomeLabel(r.outcome)),
      h('td', { 'data-label': 'By' }, r.callerSub || '—'),
      h('td', { 'data-label': 'Campaign' }, r.campaignId ? h('a', { href: `#/campaigns/${encodeURIComponent(r.campaignId)}` }, r.campaignId) : '—'))))));
}
