// The ActionStore web view (docs/webview.md): a time series of one metric over one application,
// grouped by a field, drawn with Chart.js. It uses only the collector's own API: GET /v1/schema
// for the drop-downs and POST /v1/query (at most two calls per chart) for the numbers.
//
// The whole view lives in the URL fragment, which never reaches a server:
//   #app=demo&metric=count&interval=day&group_by=metadata.provider&from=…&to=…&where=<query JSON>
// The read key lives in sessionStorage only. A `key=` in the fragment is moved there and taken
// out of the address bar (history.replaceState) before anything else runs.
//
// This file is loaded before Chart.js, so that its error hooks see Chart.js' errors too; the view
// starts on DOMContentLoaded, once every script has run.
'use strict';

(function () {
  const KEY_STORAGE = 'actionstore.readKey';
  // Bounds that keep one chart cheap: buckets drawn, and rows the grouped series may return.
  const BUCKETS_MAX = 2000;
  const SERIES_ROWS_MAX = 100000;
  const COLORS = ['#2864c8', '#e8710a', '#1e8e3e', '#d01884', '#9334e6', '#12a4af', '#c5221f', '#7f6200',
    '#5f6368', '#0b8043', '#a142f4', '#e52592', '#185abc', '#b06000', '#137333', '#3c4043', '#d93025',
    '#1a73e8', '#f29900', '#188038'];
  const OTHER_COLOR = '#9aa0a6';
  const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
  const RANGES = {'1h': 3600e3, '24h': 86400e3, '7d': 7 * 86400e3, '30d': 30 * 86400e3, '90d': 90 * 86400e3,
    '365d': 365 * 86400e3};
  const INTERVALS = ['minute', 'hour', 'day', 'week', 'month'];
  const PATH_METRICS = ['sum', 'avg', 'min', 'max', 'p50', 'p90', 'p95', 'p99'];
  // Metrics whose value over several groups (or buckets) follows from the groups' values: these
  // can fold the groups after the top N into "other", and total a bucket over its groups.
  const FOLDS = {
    count: (a, b) => a + b,
    sum: (a, b) => a + b,
    min: (a, b) => Math.min(a, b),
    max: (a, b) => Math.max(a, b),
  };
  // Metrics that are 0, not null, over no rows.
  const ZERO_WHEN_EMPTY = ['count', 'unique_users', 'unique_companies', 'unique_sessions'];
  const OPERATORS = {
    string: ['eq', 'ne', 'in', 'prefix', 'gt', 'gte', 'lt', 'lte', 'exists'],
    number: ['eq', 'ne', 'in', 'gt', 'gte', 'lt', 'lte', 'exists'],
    boolean: ['eq', 'ne', 'exists'],
    array: ['eq', 'ne', 'exists'],
    object: ['exists'],
  };

  // Errors a test (or a person with the console open) should know about: uncaught exceptions,
  // rejected promises, Content-Security-Policy violations and console.error calls. Kept in
  // body[data-errors] as a JSON array.
  const errors = [];
  function recordError(text) {
    errors.push(String(text));
    if (document.body) document.body.dataset.errors = JSON.stringify(errors);
  }
  window.addEventListener('error', (e) => recordError('error: ' + e.message));
  window.addEventListener('unhandledrejection', (e) => recordError('unhandled rejection: ' + e.reason));
  document.addEventListener('securitypolicyviolation',
    (e) => recordError('CSP violation: ' + e.violatedDirective + ' ' + e.blockedURI));
  const consoleError = console.error.bind(console);
  console.error = function (...args) {
    recordError('console.error: ' + args.join(' '));
    consoleError(...args);
  };

  // ---- The fragment --------------------------------------------------------------------------

  // Fragment values stay readable: ':' ',' '/' need no escape in a fragment.
  function encode(v) {
    return encodeURIComponent(v).replace(/%3A/g, ':').replace(/%2C/g, ',').replace(/%2F/g, '/');
  }

  function fragmentOf(params) {
    const parts = [];
    for (const [k, v] of params) parts.push(encode(k) + '=' + encode(v));
    return parts.join('&');
  }

  function replaceFragment(params) {
    const f = fragmentOf(params);
    history.replaceState(null, '', location.pathname + location.search + (f ? '#' + f : ''));
  }

  // Moves a key from the fragment into sessionStorage and out of the address bar and history.
  function takeKeyFromFragment() {
    const params = new URLSearchParams(location.hash.slice(1));
    if (!params.has('key')) return;
    const key = params.get('key');
    if (key) sessionStorage.setItem(KEY_STORAGE, key);
    params.delete('key');
    replaceFragment(params);
  }
  takeKeyFromFragment();

  function readKey() { return sessionStorage.getItem(KEY_STORAGE) || ''; }

  // The view's state, as the fragment says it.
  function stateFromFragment() {
    const p = new URLSearchParams(location.hash.slice(1));
    const s = {
      app: p.get('app') || '',
      metric: p.get('metric') || 'count',
      interval: INTERVALS.includes(p.get('interval')) ? p.get('interval') : 'day',
      group_by: p.get('group_by') || '',
      top: Math.max(1, Math.min(50, parseInt(p.get('top') || '10', 10) || 10)),
      range: p.get('range') || '7d',
      from: p.get('from') || '',
      to: p.get('to') || '',
      where: null,
      whereError: '',
    };
    if (s.from || s.to) s.range = 'custom';
    if (!(s.range in RANGES) && s.range !== 'custom') s.range = '7d';
    const w = p.get('where');
    if (w) {
      try { s.where = JSON.parse(w); } catch (e) { s.whereError = 'the fragment\'s where is not JSON: ' + e.message; }
    }
    return s;
  }

  function writeFragment(s) {
    const p = new URLSearchParams();
    p.set('app', s.app);
    p.set('metric', s.metric);
    p.set('interval', s.interval);
    if (s.group_by) {
      p.set('group_by', s.group_by);
      p.set('top', String(s.top));
    }
    if (s.range === 'custom') {
      p.set('from', s.from);
      p.set('to', s.to);
    } else {
      p.set('range', s.range);
    }
    if (s.where) p.set('where', JSON.stringify(s.where));
    replaceFragment(p);
  }

  // ---- Metrics, fields, time ---------------------------------------------------------------

  function metricKind(m) { return m.split(':')[0]; }
  function metricPath(m) { return m.includes(':') ? m.slice(m.indexOf(':') + 1) : ''; }
  // The query's metric and its output name (docs/query.md).
  function metricSpec(m) {
    const kind = metricKind(m);
    if (!PATH_METRICS.includes(kind)) return {spec: kind, name: kind};
    const path = metricPath(m);
    return {spec: {[kind]: path}, name: kind + '(' + path + ')'};
  }
  function metricLabel(m) {
    const kind = metricKind(m);
    const option = Array.from($('metric').options).find((o) => o.value === kind);
    const text = option ? option.textContent : kind;
    return PATH_METRICS.includes(kind) ? text + ' ' + metricPath(m) : text;
  }

  function utcISO(ms) { return new Date(ms).toISOString().replace('.000Z', 'Z'); }
  function parseTime(s) {
    if (!s) return NaN;
    // No offset means UTC, as in queries.
    return Date.parse(/[zZ]|[+-]\d\d:\d\d$/.test(s) ? s : s + 'Z');
  }

  function bucketStart(ms, interval) {
    const day = 86400e3;
    switch (interval) {
    case 'minute': return Math.floor(ms / 60e3) * 60e3;
    case 'hour': return Math.floor(ms / 3600e3) * 3600e3;
    case 'day': return Math.floor(ms / day) * day;
    case 'week': {
      const d = Math.floor(ms / day);
      const sinceMonday = (new Date(d * day).getUTCDay() + 6) % 7; // ISO weeks start on Monday
      return (d - sinceMonday) * day;
    }
    default: {
      const t = new Date(ms);
      return Date.UTC(t.getUTCFullYear(), t.getUTCMonth(), 1);
    }
    }
  }

  function nextBucket(ms, interval) {
    switch (interval) {
    case 'minute': return ms + 60e3;
    case 'hour': return ms + 3600e3;
    case 'day': return ms + 86400e3;
    case 'week': return ms + 7 * 86400e3;
    default: {
      const t = new Date(ms);
      return Date.UTC(t.getUTCFullYear(), t.getUTCMonth() + 1, 1);
    }
    }
  }

  // Chart.js 3.9 from Debian has no date adapter, so the time axis is a category axis with
  // labels made here (UTC, like the buckets).
  function bucketLabel(ms, interval, withYear) {
    const t = new Date(ms);
    const pad = (n) => String(n).padStart(2, '0');
    const date = MONTHS[t.getUTCMonth()] + ' ' + t.getUTCDate() + (withYear ? ' ' + t.getUTCFullYear() : '');
    switch (interval) {
    case 'minute':
    case 'hour': return date + ' ' + pad(t.getUTCHours()) + ':' + pad(t.getUTCMinutes());
    case 'day': return DAYS[t.getUTCDay()] + ' ' + date;
    case 'week': return 'week of ' + date;
    default: return MONTHS[t.getUTCMonth()] + ' ' + t.getUTCFullYear();
    }
  }

  function groupLabel(v) {
    if (v === null || v === undefined) return '(none)';
    return typeof v === 'string' ? v : JSON.stringify(v);
  }

  function format(v) {
    if (v === null || v === undefined) return '–';
    return Number.isInteger(v) ? v.toLocaleString('en-US') : v.toLocaleString('en-US', {maximumFractionDigits: 3});
  }

  // ---- The page --------------------------------------------------------------------------------

  function $(id) { return document.getElementById(id); }

  class ViewError extends Error {}

  let state = null;
  let schema = null; // {fields: [{name, type}], metadata: [{name, type}]}
  let chart = null;
  let generation = 0;
  let firstDrawDone = false;

  function showMessage(text, info) {
    const m = $('message');
    m.textContent = text;
    m.classList.toggle('info', !!info);
    m.hidden = !text;
  }

  function setState(name) { document.body.dataset.state = name; }

  function showConnect(note) {
    $('view').hidden = true;
    $('forget-key').hidden = true;
    $('connect').hidden = false;
    $('connect-app').value = state.app;
    if (note) showMessageIn($('connect'), note);
    setState('connect');
    (state.app ? $('connect-key') : $('connect-app')).focus();
  }

  function showMessageIn(section, text) {
    let p = section.querySelector('.connect-error');
    if (!p) {
      p = document.createElement('p');
      p.className = 'connect-error';
      p.id = 'connect-error';
      section.prepend(p);
    }
    p.textContent = text;
  }

  async function api(path, body) {
    const init = {headers: {'Authorization': 'Bearer ' + readKey()}};
    if (body !== undefined) {
      init.method = 'POST';
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch (e) {
      throw new ViewError('the collector cannot be reached: ' + e.message);
    }
    const text = await response.text();
    let json = null;
    try { json = JSON.parse(text); } catch (e) { json = null; }
    if (response.status === 401) {
      sessionStorage.removeItem(KEY_STORAGE);
      throw new ViewError('401:' + ((json && json.message) || 'the read key is not valid'));
    }
    if (!response.ok || json === null) {
      throw new ViewError((json && json.message) || ('the collector answered ' + response.status));
    }
    return json;
  }

  async function start() {
    state = stateFromFragment();
    $('app-name').textContent = state.app ? 'application ' + state.app : '';
    if (!state.app || !readKey()) {
      showConnect('');
      return;
    }
    $('connect').hidden = true;
    $('view').hidden = false;
    $('forget-key').hidden = false;
    setState('loading');
    try {
      schema = await api('/v1/schema?app=' + encodeURIComponent(state.app));
      fillControls();
    } catch (e) {
      return failed(e);
    }
    await draw();
  }

  function failed(e) {
    if (!(e instanceof ViewError)) console.error(e && e.stack ? e.stack : String(e));
    const text = e.message || String(e);
    if (text.startsWith('401:')) {
      showConnect(text.slice(4));
      return;
    }
    showMessage(text);
    setState('error');
    publish({state: 'error', message: text});
  }

  // ---- Controls ------------------------------------------------------------------------------

  function option(select, value, text) {
    const o = document.createElement('option');
    o.value = value;
    o.textContent = text === undefined ? value : text;
    select.append(o);
    return o;
  }

  function allFields() { return schema.fields.concat(schema.metadata); }
  function fieldType(name) {
    const f = allFields().find((x) => x.name === name);
    return f ? f.type : 'string';
  }

  // Sets a select's value, adding the value (marked) when the schema does not list it, so that the
  // controls always show what the fragment asks for.
  function choose(select, value) {
    if (!Array.from(select.options).some((o) => o.value === value)) option(select, value, value + ' (not in schema)');
    select.value = value;
  }

  // Sets the controls from the state; `withFilters` false keeps the filter rows as they are (a row
  // being filled in is not in the state yet).
  function fillControls(withFilters = true) {
    const groupBy = $('group-by');
    groupBy.replaceChildren();
    option(groupBy, '', 'nothing');
    for (const f of allFields()) {
      if (f.name === 'time' || f.type === 'object') continue;
      option(groupBy, f.name);
    }
    const metricPathSelect = $('metric-path');
    metricPathSelect.replaceChildren();
    const numbers = schema.metadata.filter((f) => f.type === 'number');
    for (const f of numbers) option(metricPathSelect, f.name);
    for (const o of $('metric').options) o.disabled = PATH_METRICS.includes(o.value) && numbers.length === 0;

    const kind = metricKind(state.metric);
    choose($('metric'), kind);
    if (PATH_METRICS.includes(kind)) choose(metricPathSelect, metricPath(state.metric));
    $('metric-path-label').hidden = !PATH_METRICS.includes(kind);
    choose(groupBy, state.group_by);
    choose($('top'), String(state.top));
    $('top').parentElement.hidden = !state.group_by;
    $('interval').value = state.interval;
    $('range').value = state.range;
    for (const el of document.querySelectorAll('.custom-range')) el.hidden = state.range !== 'custom';
    const [fromMs, toMs] = resolveRange(state);
    $('from').value = utcISO(fromMs).slice(0, 16);
    $('to').value = utcISO(toMs).slice(0, 16);
    if (withFilters) {
      fillFilters();
    } else {
      $('where-json').value = state.where ? JSON.stringify(state.where) : '';
    }
  }

  // Filters as rows of (field, operator, value), combined with `and`. A `where` the rows cannot
  // show (an `or`, a `not`) stays in the JSON box and is used as it is.
  function filterRowsOf(where) {
    if (!where) return [];
    const terms = where.and && Array.isArray(where.and) ? where.and : [where];
    const rows = [];
    for (const t of terms) {
      const keys = Object.keys(t || {});
      if (keys.length !== 1) return null;
      const op = keys[0];
      const arg = t[op];
      if (op === 'exists') {
        rows.push({field: Array.isArray(arg) ? arg[0] : arg, op, value: ''});
      } else if (['eq', 'ne', 'gt', 'gte', 'lt', 'lte', 'prefix', 'in'].includes(op) && Array.isArray(arg)
        && arg.length === 2 && typeof arg[0] === 'string') {
        const v = arg[1];
        if (op === 'in' && !Array.isArray(v)) return null;
        if (op !== 'in' && (typeof v === 'object' && v !== null)) return null;
        rows.push({field: arg[0], op, value: op === 'in' ? v.map(String).join(', ') : String(v)});
      } else {
        return null;
      }
    }
    return rows;
  }

  function typed(value, type) {
    if (type === 'number') {
      const n = Number(value);
      if (value.trim() === '' || Number.isNaN(n)) throw new ViewError('"' + value + '" is not a number');
      return n;
    }
    if (type === 'boolean') return value.trim() === 'true';
    return value;
  }

  function whereOfRows() {
    const terms = [];
    for (const row of document.querySelectorAll('#filter-rows .filter-row')) {
      const field = row.querySelector('.filter-field').value;
      const op = row.querySelector('.filter-op').value;
      const value = row.querySelector('.filter-value').value;
      const type = fieldType(field);
      // A row without a value yet filters nothing.
      if (op !== 'exists' && value.trim() === '') continue;
      if (op === 'exists') {
        terms.push({exists: field});
      } else if (op === 'in') {
        terms.push({in: [field, value.split(',').map((v) => v.trim()).filter((v) => v !== '').map((v) => typed(v, type))]});
      } else {
        terms.push({[op]: [field, typed(value, type)]});
      }
    }
    if (terms.length === 0) return null;
    return terms.length === 1 ? terms[0] : {and: terms};
  }

  function addFilterRow(row) {
    const div = document.createElement('div');
    div.className = 'filter-row';
    const field = document.createElement('select');
    field.className = 'filter-field';
    for (const f of allFields()) if (f.name !== 'time') option(field, f.name);
    const op = document.createElement('select');
    op.className = 'filter-op';
    const value = document.createElement('input');
    value.className = 'filter-value';
    value.spellcheck = false;
    const remove = document.createElement('button');
    remove.type = 'button';
    remove.textContent = '×';
    remove.title = 'Remove this filter';
    const fillOps = () => {
      const keep = op.value;
      op.replaceChildren();
      for (const o of OPERATORS[fieldType(field.value)] || OPERATORS.string) option(op, o);
      if (Array.from(op.options).some((o) => o.value === keep)) op.value = keep;
      value.hidden = op.value === 'exists';
      value.placeholder = op.value === 'in' ? 'a, b, c' : 'value';
    };
    field.addEventListener('change', fillOps);
    op.addEventListener('change', () => {
      value.hidden = op.value === 'exists';
      value.placeholder = op.value === 'in' ? 'a, b, c' : 'value';
    });
    remove.addEventListener('click', () => {
      div.remove();
      applyControls();
    });
    if (row) choose(field, row.field);
    fillOps();
    if (row) {
      choose(op, row.op);
      value.value = row.value;
      value.hidden = row.op === 'exists';
    }
    div.append(field, op, value, remove);
    $('filter-rows').append(div);
    return value;
  }

  function fillFilters() {
    $('filter-rows').replaceChildren();
    const rows = filterRowsOf(state.where);
    $('where-json').value = state.where ? JSON.stringify(state.where) : '';
    if (rows === null) {
      $('where-details').open = true;
      $('filters').hidden = true;
    } else {
      $('filters').hidden = false;
      for (const r of rows) addFilterRow(r);
    }
  }

  function resolveRange(s) {
    if (s.range === 'custom') {
      const fromMs = parseTime(s.from);
      const toMs = parseTime(s.to);
      if (Number.isNaN(fromMs) || Number.isNaN(toMs)) throw new ViewError('from and to must be ISO times');
      return [fromMs, toMs];
    }
    const toMs = Math.ceil(Date.now() / 60e3) * 60e3;
    return [toMs - RANGES[s.range], toMs];
  }

  // Reads the controls into the state and the fragment, then draws.
  function applyControls() {
    try {
      const kind = $('metric').value;
      const s = Object.assign({}, state);
      s.metric = PATH_METRICS.includes(kind) ? kind + ':' + $('metric-path').value : kind;
      s.interval = $('interval').value;
      s.group_by = $('group-by').value;
      s.top = parseInt($('top').value, 10) || 10;
      const range = $('range').value;
      if (range === 'custom') {
        if (state.range !== 'custom') {
          // Switching to custom starts from the preset's times.
          const [fromMs, toMs] = resolveRange(state);
          s.from = utcISO(fromMs);
          s.to = utcISO(toMs);
        } else {
          s.from = $('from').value ? utcISO(parseTime($('from').value)) : state.from;
          s.to = $('to').value ? utcISO(parseTime($('to').value)) : state.to;
        }
      } else {
        s.from = '';
        s.to = '';
      }
      s.range = range;
      if (!$('filters').hidden) s.where = whereOfRows();
      state = s;
    } catch (e) {
      return failed(e);
    }
    writeFragment(state);
    try {
      fillControls(false);
    } catch (e) {
      return failed(e);
    }
    draw();
  }

  // ---- Queries and drawing --------------------------------------------------------------------

  // Runs the chart's queries (at most two) and returns what to draw.
  async function compute(s, calls) {
    const query = async (q) => {
      const started = performance.now();
      const result = await api('/v1/query?app=' + encodeURIComponent(s.app), q);
      calls.push({query: q, stats: result.stats, round_trip_ms: performance.now() - started});
      return result;
    };
    if (s.whereError) throw new ViewError(s.whereError);
    const [fromMs, toMs] = resolveRange(s);
    if (!(fromMs < toMs)) throw new ViewError('the range is empty: from must be before to');
    const buckets = [];
    for (let b = bucketStart(fromMs, s.interval); b < toMs; b = nextBucket(b, s.interval)) {
      buckets.push(b);
      if (buckets.length > BUCKETS_MAX) {
        throw new ViewError('more than ' + BUCKETS_MAX + ' ' + s.interval + 's in this range: choose a longer interval');
      }
    }
    const {spec, name} = metricSpec(s.metric);
    const kind = metricKind(s.metric);
    const fold = FOLDS[kind];
    const empty = ZERO_WHEN_EMPTY.includes(kind) ? 0 : null;
    const base = {from: utcISO(fromMs), to: utcISO(toMs)};
    if (s.where) base.where = s.where;
    const time = {time: s.interval};
    const bucketOf = (row) => Date.parse(row.time);
    const foldValues = (values) => values.filter((v) => v !== null).reduce((a, v) => (a === null ? v : fold(a, v)), null);
    const out = {buckets, metricName: name, empty, series: [], bucketTotals: null, note: ''};

    if (!s.group_by) {
      const r = await query(Object.assign({}, base, {group_by: [time], metrics: [spec]}));
      const values = new Map(r.rows.map((row) => [bucketOf(row), row[name]]));
      let total;
      if (fold) {
        total = foldValues(Array.from(values.values()));
        if (total === null) total = empty;
      } else {
        // Unique users of a week are not the sum of its days': ask for the whole range.
        total = (await query(Object.assign({}, base, {metrics: [spec]}))).rows[0][name];
      }
      out.series.push({name: metricLabel(s.metric), key: null, values, total, other: false});
      return out;
    }

    const g = s.group_by;
    // Call 1: the top groups over the whole range, with their exact totals.
    const rank = await query(Object.assign({}, base, {
      group_by: [g], metrics: [spec], order_by: [{metric: name, desc: true}], limit: s.top + 1,
    }));
    const more = rank.rows.length > s.top;
    const top = rank.rows.slice(0, s.top);
    const topIds = new Map(top.map((row, i) => [JSON.stringify(row[g] === undefined ? null : row[g]), i]));
    // Call 2: the series. With more groups than shown and a metric that folds, every group comes
    // back and the rest is folded into "other"; a metric that does not fold asks for the top only.
    const q2 = Object.assign({}, base, {group_by: [time, g], metrics: [spec]});
    if (more && fold) q2.limit = SERIES_ROWS_MAX;
    if (more && !fold) {
      const values = top.map((row) => row[g]).filter((v) => v !== null && v !== undefined);
      const hasNull = top.some((row) => row[g] === null || row[g] === undefined);
      const terms = [];
      if (values.length) terms.push({in: [g, fieldType(g) === 'array' ? values.map((v) => JSON.parse(v)) : values]});
      if (hasNull) terms.push({not: {exists: g}});
      const member = terms.length === 1 ? terms[0] : {or: terms};
      q2.where = base.where ? {and: [base.where, member]} : member;
    }
    const r2 = await query(q2);
    if (q2.limit && r2.rows.length >= q2.limit) {
      throw new ViewError('more than ' + SERIES_ROWS_MAX + ' (' + s.interval + ', ' + g + ') pairs: filter, shorten the range or choose a longer interval');
    }
    const series = top.map((row) => ({
      name: groupLabel(row[g]), key: row[g], values: new Map(), total: row[name], other: false,
    }));
    const other = {name: 'other', key: null, values: new Map(), total: null, other: true};
    const perBucket = new Map();
    for (const row of r2.rows) {
      const b = bucketOf(row);
      const v = row[name];
      const i = topIds.get(JSON.stringify(row[g] === undefined ? null : row[g]));
      if (i !== undefined) {
        series[i].values.set(b, v);
      } else if (fold && v !== null) {
        other.values.set(b, other.values.has(b) ? fold(other.values.get(b), v) : v);
      }
      if (fold && v !== null) perBucket.set(b, perBucket.has(b) ? fold(perBucket.get(b), v) : v);
    }
    if (more && fold) {
      other.total = foldValues(Array.from(other.values.values()));
      series.push(other);
    }
    if (fold) out.bucketTotals = perBucket;
    if (series.length === 0) out.note = 'No action in this range matches the filters.';
    if (more && !fold) {
      out.note = 'Only the top ' + s.top + ' groups are drawn: ' + metricLabel(s.metric)
        + ' of several groups does not add up, so there is no "other".';
    }
    out.series = series;
    return out;
  }

  function valueAt(series, b, empty) {
    return series.values.has(b) ? series.values.get(b) : (series.other ? (empty === 0 ? 0 : null) : empty);
  }

  function drawChart(s, result) {
    if (chart) {
      chart.destroy();
      chart = null;
    }
    const withYear = new Date(result.buckets[0]).getUTCFullYear() !== new Date(result.buckets[result.buckets.length - 1]).getUTCFullYear();
    const labels = result.buckets.map((b) => bucketLabel(b, s.interval, withYear));
    const datasets = result.series.map((series, i) => {
      const color = series.other ? OTHER_COLOR : COLORS[i % COLORS.length];
      return {
        label: series.name,
        data: result.buckets.map((b) => valueAt(series, b, result.empty)),
        borderColor: color,
        backgroundColor: color,
        borderWidth: 2,
        pointRadius: result.buckets.length > 120 ? 0 : 2,
        tension: 0,
        spanGaps: result.empty === null,
      };
    });
    chart = new Chart($('chart'), {
      type: 'line',
      data: {labels, datasets},
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        interaction: {mode: 'index', intersect: false},
        scales: {
          x: {type: 'category', title: {display: true, text: 'UTC, per ' + s.interval}, ticks: {maxRotation: 0, autoSkip: true}},
          y: {beginAtZero: true, title: {display: true, text: metricLabel(s.metric)}},
        },
        plugins: {
          legend: {position: 'top'},
          tooltip: {callbacks: {label: (ctx) => ctx.dataset.label + ': ' + format(ctx.parsed.y)}},
        },
      },
    });
  }

  function cell(tag, text, attrs) {
    const c = document.createElement(tag);
    c.textContent = text;
    for (const [k, v] of Object.entries(attrs || {})) c.dataset[k] = v;
    return c;
  }

  function valueCell(v, series) {
    return cell('td', format(v), {series, value: v === null || v === undefined ? '' : String(v)});
  }

  // The table holds the numbers the chart draws, one row per bucket, and the whole range's totals.
  function drawTable(s, result) {
    const table = $('table');
    table.replaceChildren();
    const head = document.createElement('thead');
    const hr = document.createElement('tr');
    hr.append(cell('th', 'Time (UTC)'));
    result.series.forEach((series, i) => {
      const th = cell('th', series.name, {series: series.name});
      const swatch = document.createElement('span');
      swatch.className = 'swatch';
      swatch.style.background = series.other ? OTHER_COLOR : COLORS[i % COLORS.length];
      th.prepend(swatch);
      hr.append(th);
    });
    if (result.bucketTotals) hr.append(cell('th', 'All groups', {series: '*'}));
    head.append(hr);
    const body = document.createElement('tbody');
    for (const b of result.buckets) {
      const tr = document.createElement('tr');
      tr.dataset.time = utcISO(b);
      tr.append(cell('td', bucketLabel(b, s.interval, true)));
      for (const series of result.series) tr.append(valueCell(valueAt(series, b, result.empty), series.name));
      if (result.bucketTotals) {
        tr.append(valueCell(result.bucketTotals.has(b) ? result.bucketTotals.get(b) : result.empty, '*'));
      }
      body.append(tr);
    }
    const foot = document.createElement('tfoot');
    const fr = document.createElement('tr');
    fr.dataset.time = 'total';
    fr.append(cell('td', 'Whole range'));
    for (const series of result.series) fr.append(valueCell(series.total, series.name));
    if (result.bucketTotals) {
      const all = Array.from(result.bucketTotals.values());
      const fold = FOLDS[metricKind(s.metric)];
      fr.append(valueCell(all.length ? all.reduce(fold) : result.empty, '*'));
    }
    foot.append(fr);
    table.append(head, body, foot);
  }

  // A machine-readable account of what the page shows, read back from the chart and the table,
  // for tests: <pre id="result-json">.
  function publish(extra) {
    const table = $('table');
    const summary = Object.assign({
      app: state && state.app,
      hash: location.hash,
      key_in_session_storage: readKey() !== '',
      errors,
      load_ms: Math.round(performance.now()),
    }, extra);
    if (extra.state === 'ready') {
      summary.series = chart ? chart.data.datasets.map((d) => ({name: d.label, data: d.data})) : null;
      summary.labels = chart ? chart.data.labels : null;
      summary.columns = Array.from(table.querySelectorAll('thead th')).slice(1).map((th) => th.dataset.series);
      summary.rows = Array.from(table.querySelectorAll('tbody tr, tfoot tr')).map((tr) => ({
        time: tr.dataset.time,
        values: Array.from(tr.querySelectorAll('td[data-value]')).map((td) => (td.dataset.value === '' ? null : Number(td.dataset.value))),
      }));
    }
    $('result-json').textContent = JSON.stringify(summary);
  }

  async function draw() {
    const mine = ++generation;
    const s = state;
    const calls = [];
    const started = performance.now();
    setState('loading');
    showMessage('');
    $('stats').textContent = 'Loading…';
    let result;
    try {
      result = await compute(s, calls);
    } catch (e) {
      if (mine === generation) failed(e);
      return;
    }
    if (mine !== generation) return;
    let chartNote = '';
    if (typeof Chart === 'undefined') {
      // The collector says why (libjs-chart.js missing, or a wrong --chart-js path).
      let why = 'Chart.js did not load';
      try {
        const r = await fetch('/webview/chart.js');
        const body = await r.json();
        why = body.message || why;
      } catch (e) { /* keep the generic message */ }
      chartNote = why + '. The table below has the numbers.';
      if (chart) chart.destroy();
      chart = null;
      $('chart-box').hidden = true;
    } else {
      $('chart-box').hidden = false;
      drawChart(s, result);
    }
    drawTable(s, result);
    const elapsed = calls.reduce((a, c) => a + (c.stats.elapsed_ms || 0), 0);
    const rows = calls.reduce((a, c) => a + (c.stats.rows_scanned || 0), 0);
    const roundTrip = performance.now() - started;
    $('stats').textContent = calls.length + (calls.length === 1 ? ' query' : ' queries') + ' · '
      + format(Math.round(elapsed * 10) / 10) + ' ms in the store · ' + format(rows) + ' rows scanned · '
      + format(Math.round(roundTrip)) + ' ms to draw'
      + (firstDrawDone ? '' : ' · page ready ' + format(Math.round(performance.now())) + ' ms after opening');
    firstDrawDone = true;
    showMessage(chartNote || result.note, !chartNote);
    setState('ready');
    document.body.dataset.chart = chart ? 'drawn' : 'missing';
    publish({
      state: 'ready',
      chart: chart ? 'drawn' : 'missing',
      message: chartNote || result.note,
      queries: calls.map((c) => c.query),
      elapsed_ms: elapsed,
      rows_scanned: rows,
      draw_ms: Math.round(roundTrip),
    });
  }

  // ---- Wiring ----------------------------------------------------------------------------------

  function wire() {
    $('connect-form').addEventListener('submit', (e) => {
      e.preventDefault();
      const app = $('connect-app').value.trim();
      const key = $('connect-key').value;
      if (!app || !key) return;
      sessionStorage.setItem(KEY_STORAGE, key);
      $('connect-key').value = '';
      const p = new URLSearchParams(location.hash.slice(1));
      p.set('app', app);
      replaceFragment(p);
      const error = $('connect-error');
      if (error) error.remove();
      start();
    });
    $('forget-key').addEventListener('click', () => {
      sessionStorage.removeItem(KEY_STORAGE);
      showConnect('');
    });
    $('controls').addEventListener('submit', (e) => {
      e.preventDefault();
      applyControls();
    });
    $('controls').addEventListener('change', (e) => {
      // The JSON box applies on its button only.
      if (e.target.id === 'where-json') return;
      applyControls();
    });
    $('add-filter').addEventListener('click', () => addFilterRow(null).focus());
    $('apply-where').addEventListener('click', () => {
      const text = $('where-json').value.trim();
      try {
        state = Object.assign({}, state, {where: text ? JSON.parse(text) : null, whereError: ''});
      } catch (e) {
        showMessage('the filter is not JSON: ' + e.message);
        return;
      }
      writeFragment(state);
      fillControls();
      draw();
    });
    window.addEventListener('hashchange', () => {
      takeKeyFromFragment();
      start();
    });
  }

  document.addEventListener('DOMContentLoaded', () => {
    wire();
    start();
  });
})();
