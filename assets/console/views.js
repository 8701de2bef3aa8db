// The life of a view: one view is shown at a time; leaving it aborts its requests and timers.
// Messages for failures, announcements for screen readers, redraws that keep keyboard focus.

import { ApiFailure, explain } from './api.js';
import { $, h } from './ui.js';

let current = null; // { controller, timers }

function leaveView() {
  if (!current) return;
  current.controller.abort();
  for (const timer of current.timers) clearTimeout(timer);
  current = null;
}

/** A new view (the previous one is left). */
export function newView() {
  leaveView();
  current = { controller: new AbortController(), timers: new Set() };
  return current;
}

/** Whether `view` is still the one shown. */
export const isCurrent = (view) => view === current;

/** Calls `fn` again in `ms` while this view is shown (and the tab visible). */
export function later(view, ms, fn) {
  const timer = setTimeout(() => {
    view.timers.delete(timer);
    if (view !== current) return;
    if (document.hidden) later(view, ms, fn);
    else fn();
  }, ms);
  view.timers.add(timer);
}

/** Stops the timers of `view` (the server answers next, and polling starts again from there). */
export function stopTimers(view) {
  for (const timer of view.timers) clearTimeout(timer);
  view.timers.clear();
}

export function render(...children) {
  $('#main').replaceChildren(...children);
}

/** Keeps keyboard focus on "the same" control when a part of the page is drawn again. */
export function redraw(container, ...children) {
  const active = document.activeElement;
  const key = active && container.contains(active) ? active.dataset.key : null;
  container.replaceChildren(...children.filter((child) => child !== null && child !== undefined));
  if (key) {
    const again = container.querySelector(`[data-key="${CSS.escape(key)}"]`);
    if (again) again.focus();
  }
}

export function announce(text) {
  const region = $('#announce');
  region.textContent = '';
  // A fresh text node is read even when the words repeat.
  setTimeout(() => { region.textContent = text; }, 50);
}

export function noteTokenRefused() {
  const status = $('#token-status');
  status.textContent = 'The gateway refused this token (expired or invalid): paste a fresh one.';
  status.className = 'token-status expired';
}

/** Whether the page tries `failure`'s request again by itself (a 429 or 503 with Retry-After). */
function retriesItself(failure) {
  return failure instanceof ApiFailure && failure.retryAfter !== null && (failure.status === 429 || failure.status === 503);
}

/** Calls `fn` again after the Retry-After of `failure`, while the view is shown. */
export function retryLater(view, failure, fn) {
  if (retriesItself(failure)) later(view, Math.max(failure.retryAfter, 1) * 1000, fn);
}

/**
 * A message box for `failure` with a Retry button when retrying can help; `retry` is null for
 * actions, which are never repeated by the page.
 */
export function failureBox(failure, what, retry) {
  const text = explain(failure, what, Boolean(retry) && retriesItself(failure));
  if (failure instanceof ApiFailure && failure.status === 401) noteTokenRefused();
  const calm = text.unavailable || (failure instanceof ApiFailure && failure.kind === 'no-token');
  return h('div', { class: `message ${calm ? 'info' : 'error'}`, role: calm ? 'status' : 'alert', 'data-status': failure.status ?? '' },
    h('p', { class: 'message-title' }, text.title),
    text.text ? h('p', {}, text.text) : null,
    text.retry && retry ? h('button', { type: 'button', onclick: retry }, 'Retry') : null,
    text.token ? h('button', { type: 'button', onclick: () => $('#token-input').focus() }, 'Go to the token field') : null);
}

/** A list of term/value pairs. */
export function facts(pairs, attrs = {}) {
  return h('dl', { class: 'facts', ...attrs }, pairs.map(([term, value]) => [h('dt', {}, term), h('dd', {}, value)]));
}

/**
 * Asks with the page's one dialog; resolves to true when the person confirms. `no` has focus
 * first (the safe answer); Escape says no.
 */
export function confirmDialog({ title, text, yes, no, danger = true, data = {} }) {
  const dialog = $('#confirm-dialog');
  $('#confirm-title').textContent = title;
  const said = $('#confirm-text');
  said.textContent = text;
  // The figures the text says, as data-* (a test compares them with the API's).
  for (const key of Object.keys(said.dataset)) delete said.dataset[key];
  Object.assign(said.dataset, data);
  const yesButton = $('#confirm-yes');
  const noButton = $('#confirm-no');
  yesButton.textContent = yes;
  yesButton.className = danger ? 'danger' : 'primary';
  noButton.textContent = no;
  return new Promise((resolve) => {
    const onYes = () => dialog.close('confirm');
    const onNo = () => dialog.close('keep');
    const onClose = () => {
      dialog.removeEventListener('close', onClose);
      yesButton.removeEventListener('click', onYes);
      noButton.removeEventListener('click', onNo);
      resolve(dialog.returnValue === 'confirm');
    };
    yesButton.addEventListener('click', onYes);
    noButton.addEventListener('click', onNo);
    dialog.addEventListener('close', onClose);
    dialog.returnValue = '';
    dialog.showModal();
    noButton.focus();
  });
}
