// The playground: a form generated from /openapi.json, predictions over SSE, output by type.
// Plain DOM code, no framework and no build step: the page ships inside the model server and
// must work offline, so every line is here. API paths are relative ("openapi.json"), which keeps
// the page working behind a path prefix and when `cogkit playground` proxies another server.
(() => {
  'use strict';

  const $ = (id) => document.getElementById(id);
  const MASK = '**********';
  const HISTORY_KEY = 'cogkit-playground:' + location.host + location.pathname;
  const state = {
    schema: null, components: {}, fields: [], kind: 'predictions', output: null,
    target: new URL('.', location.href).href.replace(/\/$/, ''),
    current: null, busy: false, lastInput: null, files: new Map(), inputsById: new Map(),
  };

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') node.className = v;
      else if (k === 'text') node.textContent = v;
      else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? '' : v);
    }
    for (const child of children) if (child !== null && child !== undefined) node.append(child);
    return node;
  }

  // ------------------------------------------------------------------ schema
  // Limits are shown as the server writes them (Python prints 4.0, not 4), so keep their source text.
  function parseSchema(text) {
    return JSON.parse(text, function (key, value, ctx) {
      if (typeof value === 'number' && (key === 'minimum' || key === 'maximum') && ctx && ctx.source) {
        this['x-source-' + key] = ctx.source;
      }
      return value;
    });
  }

  function resolve(prop) {
    let p = Object.assign({}, prop);
    let ref = p.$ref;
    if (!ref && Array.isArray(p.allOf) && p.allOf.length === 1 && p.allOf[0].$ref) ref = p.allOf[0].$ref;
    if (ref) {
      delete p.$ref; delete p.allOf;
      const target = state.components[ref.split('/').pop()] || {};
      p = Object.assign({}, resolve(target), p);
      if (p.description === 'An enumeration.') delete p.description;
    }
    return p;
  }

  function kindOf(p) {
    if (Array.isArray(p.enum)) return 'enum';
    if (p.type === 'boolean') return 'boolean';
    if (p.type === 'integer' || p.type === 'number') return p.type;
    if (p.type === 'string' && p.format === 'uri') return 'file';
    if (p.type === 'string' && (p['x-cog-secret'] || p.format === 'password')) return 'secret';
    if (p.type === 'string') return 'string';
    if (p.type === 'array') {
      const item = resolve(p.items || {});
      if (item.type === 'string' && item.format === 'uri') return 'files';
      if (['string', 'integer', 'number', 'boolean'].includes(item.type) && !item.enum) return 'list';
    }
    return 'json';
  }

  function typeLabel(f) {
    const p = f.prop;
    const names = { file: 'file', files: 'list of files', secret: 'secret', enum: 'choice', json: p.type || 'JSON' };
    let label = names[f.kind] || p.type;
    if (f.kind === 'list') label = 'list of ' + resolve(p.items || {}).type;
    return label + (f.required ? ' · required' : '');
  }

  // ------------------------------------------------------------------ validation (as the server's 422)
  function pyRepr(v) {
    if (typeof v === 'string') return v.includes("'") && !v.includes('"') ? '"' + v + '"' : "'" + v + "'";
    if (typeof v === 'boolean') return v ? 'True' : 'False';
    if (v === null) return 'None';
    return String(v);
  }

  function choices(values) {
    const shown = values.map(pyRepr);
    return shown.length === 1 ? shown[0] : shown.slice(0, -1).join(', ') + ' or ' + shown[shown.length - 1];
  }

  function limitText(p, key) { return p['x-source-' + key] || String(p[key]); }

  // Returns [value, message]; message is null when the value is valid.
  function checkScalar(p, value) {
    if (p.type === 'integer' && typeof value === 'number' && !Number.isInteger(value)) {
      return [value, 'Input should be a valid integer, got a number with a fractional part'];
    }
    if (Array.isArray(p.enum) && !p.enum.includes(value)) return [value, 'Input should be ' + choices(p.enum)];
    if (typeof value === 'number') {
      if (p.minimum !== undefined && value < p.minimum) {
        return [value, 'Input should be greater than or equal to ' + limitText(p, 'minimum')];
      }
      if (p.maximum !== undefined && value > p.maximum) {
        return [value, 'Input should be less than or equal to ' + limitText(p, 'maximum')];
      }
    }
    if (typeof value === 'string' && !p.format) {
      const length = [...value].length;
      const unit = (n) => (n === 1 ? 'character' : 'characters');
      if (p.minLength !== undefined && length < p.minLength) {
        return [value, `String should have at least ${p.minLength} ${unit(p.minLength)}`];
      }
      if (p.maxLength !== undefined && length > p.maxLength) {
        return [value, `String should have at most ${p.maxLength} ${unit(p.maxLength)}`];
      }
      if (p.pattern !== undefined) {
        let re = null;
        try { re = new RegExp(p.pattern, 'u'); } catch (e) { re = null; }
        if (re && !re.test(value)) return [value, `String should match pattern '${p.pattern}'`];
      }
    }
    return [value, null];
  }

  function parseNumber(p, text) {
    const t = text.trim();
    const n = t === '' ? NaN : Number(t);
    if (Number.isNaN(n)) {
      return [null, p.type === 'integer'
        ? 'Input should be a valid integer, unable to parse string as an integer'
        : 'Input should be a valid number, unable to parse string as a number'];
    }
    return checkScalar(p, n);
  }

  function parseItem(p, text) {
    if (p.type === 'integer' || p.type === 'number') return parseNumber(p, text);
    if (p.type === 'boolean') {
      const t = text.trim().toLowerCase();
      if (['true', '1', 'yes', 'on', 't', 'y'].includes(t)) return [true, null];
      if (['false', '0', 'no', 'off', 'f', 'n'].includes(t)) return [false, null];
      return [null, 'Input should be a valid boolean, unable to interpret input'];
    }
    return checkScalar(p, text);
  }

  // ------------------------------------------------------------------ form
  function fieldsFrom(schema) {
    const inputName = state.kind === 'trainings' ? 'TrainingInput' : 'Input';
    const model = resolve(state.components[inputName] || { properties: {} });
    const required = new Set(model.required || []);
    return Object.entries(model.properties || {})
      .map(([name, raw]) => {
        const prop = resolve(raw);
        return { name, prop, required: required.has(name), kind: kindOf(prop) };
      })
      .sort((a, b) => (a.prop['x-order'] ?? 1e9) - (b.prop['x-order'] ?? 1e9));
  }

  function control(f) {
    const p = f.prop;
    const id = 'in-' + f.name;
    const hasDefault = p.default !== undefined && p.default !== null;
    const def = hasDefault ? p.default : undefined;
    switch (f.kind) {
      case 'enum': {
        const select = el('select', { id, name: f.name });
        if (!f.required && !hasDefault) select.append(el('option', { value: '', text: '(none)' }));
        p.enum.forEach((v, i) => select.append(el('option', { value: String(i), text: String(v), selected: v === def })));
        return select;
      }
      case 'boolean':
        if (!f.required && !hasDefault) {
          return el('select', { id, name: f.name }, el('option', { value: '', text: '(none)' }),
            el('option', { value: 'true', text: 'true' }), el('option', { value: 'false', text: 'false' }));
        }
        return el('input', { id, name: f.name, type: 'checkbox', checked: def === true });
      case 'integer': case 'number': {
        const step = f.kind === 'integer' ? '1' : 'any';
        const num = el('input', { id, name: f.name, type: 'number', step, min: p.minimum, max: p.maximum,
          value: def !== undefined ? String(def) : '' });
        if (p.minimum === undefined || p.maximum === undefined) return num;
        const span = p.maximum - p.minimum;
        const slider = el('input', { type: 'range', min: p.minimum, max: p.maximum, 'aria-label': f.name,
          step: f.kind === 'integer' ? '1' : String(span / 100 || 'any'), value: def !== undefined ? String(def) : String(p.minimum) });
        slider.addEventListener('input', () => { num.value = slider.value; });
        num.addEventListener('input', () => { if (num.value !== '') slider.value = num.value; });
        return el('div', { class: 'range' }, slider, num);
      }
      case 'file': case 'files': {
        const multiple = f.kind === 'files';
        const picker = el('input', { id, name: f.name, type: 'file', multiple });
        const url = el(multiple ? 'textarea' : 'input', { id: id + '-url', type: multiple ? undefined : 'url', rows: multiple ? 2 : undefined,
          placeholder: multiple ? 'or URLs, one per line' : 'or a URL (https://… or data:…)',
          value: !multiple && typeof def === 'string' ? def : undefined });
        if (multiple && Array.isArray(def)) url.value = def.join('\n');
        return el('div', { class: 'file' }, picker, url);
      }
      case 'secret':
        return el('input', { id, name: f.name, type: 'password', autocomplete: 'off',
          placeholder: def === MASK ? '(default hidden)' : '', value: def !== undefined && def !== MASK ? def : '' });
      case 'string': {
        const long = p.maxLength === undefined || p.maxLength > 120;
        if (long && p.pattern === undefined) {
          const area = el('textarea', { id, name: f.name, rows: 3 });
          if (def !== undefined) area.value = String(def);
          return area;
        }
        return el('input', { id, name: f.name, type: 'text', value: def !== undefined ? String(def) : '' });
      }
      case 'list': {
        const area = el('textarea', { id, name: f.name, rows: 3, placeholder: 'one item per line' });
        if (Array.isArray(def)) area.value = def.map((v) => (v === MASK ? '' : String(v))).join('\n');
        return area;
      }
      default: {
        const area = el('textarea', { id, name: f.name, rows: 3, placeholder: 'JSON' });
        if (def !== undefined) area.value = JSON.stringify(def, null, 1);
        return area;
      }
    }
  }

  function buildForm() {
    const form = $('form');
    form.replaceChildren();
    state.files.clear();
    for (const f of state.fields) {
      const label = el('label', { class: 'name', for: 'in-' + f.name }, f.name, el('span', { class: 'type', text: typeLabel(f) }));
      const desc = f.prop.description ? el('div', { class: 'desc', text: f.prop.description }) : null;
      const hints = [];
      if (f.prop.minimum !== undefined) hints.push('≥ ' + limitText(f.prop, 'minimum'));
      if (f.prop.maximum !== undefined) hints.push('≤ ' + limitText(f.prop, 'maximum'));
      if (f.prop.default !== undefined) hints.push('default ' + JSON.stringify(f.prop.default));
      const hint = hints.length ? el('div', { class: 'desc', text: hints.join(' · ') }) : null;
      form.append(el('div', { class: 'field', 'data-field': f.name, 'data-kind': f.kind }, label, desc, control(f), hint,
        el('div', { class: 'error', id: 'err-' + f.name, role: 'alert' })));
    }
    if (!state.fields.length) form.append(el('p', { class: 'desc', text: 'This model takes no inputs.' }));
  }

  function readFile(file) {
    return new Promise((resolve, reject) => {
      const reader = new FileReader();
      reader.onload = () => resolve(reader.result);
      reader.onerror = () => reject(reader.error);
      reader.readAsDataURL(file);
    });
  }

  // Reads the form: {input, errors: [{field, msg}], files: {name: [file names]}}.
  async function collect() {
    const input = {};
    const errors = [];
    const files = {};
    for (const f of state.fields) {
      const node = $('in-' + f.name);
      const p = f.prop;
      const fail = (msg, index) => errors.push({ field: f.name, msg: index === undefined ? msg : `item ${index}: ${msg}` });
      let present = true;
      let value;
      switch (f.kind) {
        case 'enum':
          if (node.value === '') present = false; else value = p.enum[Number(node.value)];
          break;
        case 'boolean':
          if (node.tagName === 'SELECT') { if (node.value === '') present = false; else value = node.value === 'true'; }
          else value = node.checked;
          break;
        case 'integer': case 'number': {
          if (node.validity && node.validity.badInput) { fail(parseNumber(p, 'x')[1]); continue; }
          if (node.value.trim() === '') { present = false; break; }
          const [v, msg] = parseNumber(p, node.value);
          if (msg) { fail(msg); continue; }
          value = v;
          break;
        }
        case 'file': case 'files': {
          const picked = [...node.files];
          const urlNode = $('in-' + f.name + '-url');
          const urls = urlNode.value.split('\n').map((s) => s.trim()).filter(Boolean);
          if (picked.length) {
            files[f.name] = picked.map((x) => x.name);
            const data = await Promise.all(picked.map(readFile));
            value = f.kind === 'files' ? data.concat(urls) : data[0];
          } else if (urls.length) value = f.kind === 'files' ? urls : urls[0];
          else present = false;
          break;
        }
        case 'secret': case 'string':
          if (node.value === '') present = false; else value = node.value;
          break;
        case 'list': {
          const item = resolve(p.items || {});
          const lines = node.value.split('\n').filter((s) => s.trim() !== '');
          if (!lines.length) { present = false; break; }
          value = [];
          lines.forEach((line, i) => {
            const [v, msg] = parseItem(item, item.type === 'string' ? line : line.trim());
            if (msg) fail(msg, i); else value.push(v);
          });
          if (value.length !== lines.length) continue;
          break;
        }
        default:
          if (node.value.trim() === '') { present = false; break; }
          try { value = JSON.parse(node.value); } catch (e) { fail('Invalid JSON: ' + e.message); continue; }
      }
      if (!present) {
        if (f.required) fail('Field required');
        continue;
      }
      if (f.kind !== 'list' && f.kind !== 'json' && f.kind !== 'files') {
        const [, msg] = checkScalar(p, value);
        if (msg) { fail(msg); continue; }
      }
      input[f.name] = value;
    }
    return { input, errors, files };
  }

  function showErrors(errors) {
    for (const f of state.fields) {
      $('err-' + f.name).textContent = '';
      document.querySelector(`[data-field="${CSS.escape(f.name)}"]`).classList.remove('invalid');
    }
    const general = [];
    for (const e of errors) {
      const box = e.field && $('err-' + e.field);
      if (box) {
        box.textContent = box.textContent ? box.textContent + '\n' + e.msg : e.msg;
        box.parentElement.classList.add('invalid');
      } else general.push(e.msg);
    }
    $('form-errors').textContent = errors.length
      ? [`${errors.length} input${errors.length === 1 ? '' : 's'} to fix`, ...general].join('\n') : '';
  }

  // A 422 body's detail, in the same shape the form shows.
  function serverErrors(detail) {
    if (!Array.isArray(detail)) return [{ msg: String(detail) }];
    return detail.map((d) => {
      const loc = Array.isArray(d.loc) ? d.loc : [];
      const field = loc[0] === 'body' && loc[1] === 'input' ? loc[2] : undefined;
      const index = loc.length > 3 ? loc[3] : undefined;
      return { field, msg: index === undefined ? d.msg : `item ${index}: ${d.msg}` };
    });
  }

  // ------------------------------------------------------------------ running
  function newId() {
    const bytes = new Uint8Array(10);
    crypto.getRandomValues(bytes);
    return 'pg' + [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('');
  }

  function setBusy(busy) {
    state.busy = busy;
    $('run').disabled = busy || !state.schema;
    $('cancel').disabled = !busy;
  }

  function setStatus(status) {
    const badge = $('status');
    badge.textContent = status || '';
    badge.className = 'badge ' + (status || '');
  }

  async function onSubmit(event) {
    event.preventDefault();
    if (state.busy || !state.schema) return;
    const { input, errors, files } = await collect();
    showErrors(errors);
    if (errors.length) return;
    state.lastInput = { input, files };
    await run(input, files);
  }

  async function run(input, files) {
    const pred = { id: newId(), input, status: 'starting', logs: '', chunks: [], metrics: {}, started: Date.now() };
    state.current = pred;
    state.inputsById.set(pred.id, { input, files });
    setBusy(true);
    setStatus('starting');
    $('error').textContent = '';
    $('output').replaceChildren();
    $('logs').textContent = '';
    $('response').textContent = '';
    $('time').textContent = '';
    let final = null;
    try {
      const post = (accept) => fetch(state.kind, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Accept: accept },
        body: JSON.stringify({ id: pred.id, input }),
      });
      let resp = await post(state.streams ? 'text/event-stream' : 'application/json');
      // A server whose schema does not say (an older Cog) may still refuse SSE: ask again for JSON.
      if (resp.status === 406 && state.streams) resp = await post('application/json');
      const type = resp.headers.get('Content-Type') || '';
      if (resp.ok && type.includes('text/event-stream')) {
        final = await readEvents(resp, pred);
      } else {
        const text = await resp.text();
        let body = null;
        try { body = JSON.parse(text); } catch (e) { body = null; }
        if (resp.status === 422 && body) {
          showErrors(serverErrors(body.detail));
          pred.status = 'failed';
          pred.error = 'the server rejected the input (422)';
        } else if (!resp.ok) {
          pred.status = 'failed';
          pred.error = `HTTP ${resp.status}: ${body && body.detail !== undefined ? JSON.stringify(body.detail) : text.slice(0, 300)}`;
        } else final = body;
      }
    } catch (e) {
      pred.status = 'failed';
      pred.error = 'request failed: ' + e.message;
    }
    if (final) Object.assign(pred, final);
    finish(pred, final);
  }

  async function readEvents(resp, pred) {
    const reader = resp.body.getReader();
    const decoder = new TextDecoder();
    let buffer = '';
    let final = null;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buffer.indexOf('\n\n')) >= 0) {
        const frame = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        let event = 'message';
        const data = [];
        for (const line of frame.split('\n')) {
          if (line.startsWith('event:')) event = line.slice(6).trim();
          else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
        }
        let payload = null;
        try { payload = JSON.parse(data.join('\n')); } catch (e) { continue; }
        if (event === 'start') {
          pred.status = 'processing';
          setStatus('processing');
        } else if (event === 'output') {
          pred.chunks.push(payload.chunk);
          renderOutput(pred.chunks, true);
        } else if (event === 'log') {
          const text = payload.data ?? payload.text ?? '';  // Cog 0.21: {source, data}
          pred.logs += text;
          appendLog(text);
        } else if (event === 'metric') {
          pred.metrics[payload.name] = payload.value;
        } else if (event === 'completed') {
          final = payload;
        }
      }
    }
    return final;
  }

  function appendLog(text) {
    const logs = $('logs');
    const atEnd = logs.scrollTop + logs.clientHeight >= logs.scrollHeight - 4;
    logs.textContent += text;
    if (atEnd) logs.scrollTop = logs.scrollHeight;
  }

  function finish(pred, final) {
    setBusy(false);
    setStatus(pred.status);
    if (pred.error) $('error').textContent = String(pred.error);
    if (final) {
      renderOutput(final.output, false);
      $('logs').textContent = final.logs || pred.logs || '';
      $('response').textContent = JSON.stringify(final, (k, v) => (typeof v === 'string' && v.length > 2000 ? v.slice(0, 200) + `… (${v.length} characters)` : v), 2);
    }
    const seconds = pred.metrics && pred.metrics.predict_time;
    if (typeof seconds === 'number') $('time').textContent = `predict_time ${seconds.toFixed(3)} s`;
    remember(pred);
    state.current = null;
  }

  async function cancel() {
    const pred = state.current;
    if (!pred) return;
    $('cancel').disabled = true;
    try {
      await fetch(`${state.kind}/${encodeURIComponent(pred.id)}/cancel`, { method: 'POST' });
    } catch (e) {
      $('error').textContent = 'cancel failed: ' + e.message;
    }
  }

  // ------------------------------------------------------------------ output
  const EXT = { 'image/png': 'png', 'image/jpeg': 'jpg', 'image/gif': 'gif', 'image/webp': 'webp', 'audio/wav': 'wav',
    'audio/x-wav': 'wav', 'audio/mpeg': 'mp3', 'audio/ogg': 'ogg', 'video/mp4': 'mp4', 'video/webm': 'webm',
    'text/plain': 'txt', 'application/json': 'json' };
  const MIME = Object.fromEntries(Object.entries(EXT).map(([m, e]) => [e, m]).concat([['jpeg', 'image/jpeg'], ['svg', 'image/svg+xml'], ['flac', 'audio/flac']]));

  function mimeOf(url) {
    if (url.startsWith('data:')) return url.slice(5).split(/[;,]/)[0] || 'application/octet-stream';
    const ext = url.split(/[?#]/)[0].split('.').pop().toLowerCase();
    return MIME[ext] || 'application/octet-stream';
  }

  function isFile(value, schema) {
    if (typeof value !== 'string') return false;
    if (value.startsWith('data:')) return true;
    return Boolean(schema && schema.format === 'uri') && /^https?:\/\/\S+$/.test(value);
  }

  function media(url, index) {
    const mime = mimeOf(url);
    const name = `output${index === undefined ? '' : '.' + index}.${EXT[mime] || mime.split('/').pop() || 'bin'}`;
    let view = null;
    if (mime.startsWith('image/')) view = el('img', { src: url, alt: name, class: 'output-image' });
    else if (mime.startsWith('audio/')) view = el('audio', { src: url, controls: true });
    else if (mime.startsWith('video/')) view = el('video', { src: url, controls: true });
    return el('div', { class: 'item file-output' }, view, el('a', { href: url, download: name, text: `download ${name}` }));
  }

  function renderValue(value, schema, index) {
    if (isFile(value, schema)) return media(value, index);
    if (typeof value === 'string') return el('div', { class: 'item text', text: value });
    if (value === null || value === undefined) return el('div', { class: 'item desc', text: '(no output)' });
    return el('pre', { class: 'item json', text: JSON.stringify(value, null, 2) });
  }

  function renderOutput(value, live) {
    const out = $('output');
    const schema = state.output ? resolve(state.output) : {};
    const items = schema.items ? resolve(schema.items) : {};
    if (Array.isArray(value) && (schema.type === 'array' || live)) {
      if (schema['x-cog-array-display'] === 'concatenate' && value.every((v) => typeof v === 'string')) {
        let text = out.querySelector('.text.concatenated');
        if (!text) out.replaceChildren(text = el('div', { class: 'item text concatenated' }));
        text.textContent = value.join('');
        return;
      }
      if (live && out.children.length <= value.length) {
        for (let i = out.children.length; i < value.length; i++) out.append(renderValue(value[i], items, i));
        return;
      }
      out.replaceChildren(...value.map((v, i) => renderValue(v, items, i)));
      return;
    }
    out.replaceChildren(renderValue(value, schema));
  }

  // ------------------------------------------------------------------ history
  function shrink(value) {
    return JSON.parse(JSON.stringify(value, (k, v) => (typeof v === 'string' && v.startsWith('data:') && v.length > 256 ? `(${mimeOf(v)} file)` : v)));
  }

  function loadHistory() {
    try { return JSON.parse(localStorage.getItem(HISTORY_KEY) || '[]'); } catch (e) { return []; }
  }

  // Secrets never reach local storage: the history keeps them masked, as the server echoes them.
  function masked(input) {
    const out = Object.assign({}, input);
    for (const f of state.fields) {
      const item = f.prop.type === 'array' ? resolve(f.prop.items || {}) : null;
      const secret = f.kind === 'secret' || Boolean(item && (item['x-cog-secret'] || item.format === 'password'));
      if (secret && out[f.name] !== undefined) out[f.name] = Array.isArray(out[f.name]) ? out[f.name].map(() => MASK) : MASK;
    }
    return out;
  }

  function remember(pred) {
    const entry = { id: pred.id, at: pred.started, status: pred.status, input: shrink(masked(pred.input)),
      predict_time: pred.metrics && pred.metrics.predict_time, error: pred.error || null };
    const outputText = JSON.stringify(pred.output === undefined ? null : pred.output);
    if (outputText.length < 100000) entry.output = pred.output === undefined ? null : pred.output;
    const list = [entry, ...loadHistory().filter((e) => e.id !== pred.id)].slice(0, 25);
    try { localStorage.setItem(HISTORY_KEY, JSON.stringify(list)); } catch (e) { /* storage full: history is a convenience */ }
    renderHistory();
  }

  function restore(entry) {
    const kept = state.inputsById.get(entry.id);
    for (const f of state.fields) {
      const node = $('in-' + f.name);
      const v = kept ? kept.input[f.name] : entry.input[f.name];
      if (v === undefined || v === MASK || f.kind === 'file' || f.kind === 'files') continue;
      if (f.kind === 'enum') node.value = String(f.prop.enum.indexOf(v));
      else if (f.kind === 'boolean' && node.type === 'checkbox') node.checked = Boolean(v);
      else if (f.kind === 'list') node.value = v.join('\n');
      else if (f.kind === 'json') node.value = JSON.stringify(v);
      else node.value = String(v);
      node.dispatchEvent(new Event('input'));
    }
    return kept;
  }

  function renderHistory() {
    const list = $('history');
    list.replaceChildren(...loadHistory().map((entry) => {
      const time = typeof entry.predict_time === 'number' ? ` · ${entry.predict_time.toFixed(2)} s` : '';
      const show = el('button', { type: 'button', text: 'show', onclick: () => {
        restore(entry);
        setStatus(entry.status);
        $('error').textContent = entry.error || '';
        if ('output' in entry) renderOutput(entry.output, false);
      } });
      const again = el('button', { type: 'button', text: 'run again', onclick: async () => {
        const kept = restore(entry);
        if (kept) { if (!state.busy) await run(kept.input, kept.files); } else $('form').requestSubmit();
      } });
      return el('li', { 'data-id': entry.id }, el('span', { class: 'badge ' + entry.status, text: entry.status }), ' ',
        new Date(entry.at).toLocaleTimeString(), time, ' ', el('code', { text: JSON.stringify(entry.input).slice(0, 80) }), ' ', show, ' ', again);
    }));
  }

  // ------------------------------------------------------------------ copy as
  const sq = (s) => "'" + String(s).replace(/'/g, "'\\''") + "'";

  function pyLiteral(v, indent) {
    if (v === null || v === undefined) return 'None';
    if (typeof v === 'boolean') return v ? 'True' : 'False';
    if (typeof v === 'number' || typeof v === 'string') return JSON.stringify(v);
    if (v && v.__file) return `data_url(${JSON.stringify(v.__file)})`;
    const pad = '    '.repeat(indent + 1);
    if (Array.isArray(v)) return '[' + v.map((x) => pyLiteral(x, indent + 1)).join(', ') + ']';
    const rows = Object.entries(v).map(([k, x]) => `${pad}${JSON.stringify(k)}: ${pyLiteral(x, indent + 1)},`);
    return rows.length ? '{\n' + rows.join('\n') + '\n' + '    '.repeat(indent) + '}' : '{}';
  }

  // Inputs with picked files replaced by {__file: name}, so snippets read the file themselves.
  function withFileRefs(input, files) {
    const out = {};
    for (const [k, v] of Object.entries(input)) {
      const names = files[k];
      if (!names) { out[k] = v; continue; }
      out[k] = Array.isArray(v) ? v.map((x, i) => (i < names.length ? { __file: names[i] } : x)) : { __file: names[0] };
    }
    return out;
  }

  function snippet(kind, input, files) {
    const refs = withFileRefs(input, files);
    const url = `${state.target}/${state.kind}`;
    if (kind === 'curl') {
      const marks = [];
      const body = JSON.stringify({ input: refs }, (k, v) => (v && v.__file ? `@@cogkit-file-${marks.push(v.__file) - 1}@@` : v));
      const quoted = sq(body).replace(/"@@cogkit-file-(\d+)@@"/g, (m, i) =>
        `"data:${mimeOf(marks[i])};base64,'"$(base64 -w0 ${sq(marks[i])})"'"`);
      return `curl -s -X POST ${url} \\\n  -H 'Content-Type: application/json' \\\n  -d ${quoted}`;
    }
    if (kind === 'python') {
      const needsFiles = Object.keys(files).length > 0;
      const lines = ['import requests'];
      if (needsFiles) {
        lines.unshift('import base64', 'import mimetypes');
        lines.push('', '', 'def data_url(path):',
          '    mime = mimetypes.guess_type(path)[0] or "application/octet-stream"',
          '    with open(path, "rb") as f:',
          '        return f"data:{mime};base64,{base64.b64encode(f.read()).decode()}"');
      }
      lines.push('', `resp = requests.post(${JSON.stringify(url)}, json={"input": ${pyLiteral(refs, 0)}})`,
        'resp.raise_for_status()', 'print(resp.json()["output"])');
      return lines.join('\n');
    }
    const args = [state.kind === 'trainings' ? 'cogkit train' : 'cogkit predict'];
    for (const [k, v] of Object.entries(refs)) {
      const values = Array.isArray(v) && !state.fields.some((f) => f.name === k && f.kind === 'json') ? v : [v];
      for (const x of values) {
        if (x && x.__file) args.push(`-i ${sq(k + '=@' + x.__file)}`);
        else if (typeof x === 'string') args.push(`-i ${sq(k + '=' + x)}`);
        else args.push(`-i ${sq(k + '=' + JSON.stringify(x))}`);
      }
    }
    return args.join(' \\\n  ');
  }

  async function copySnippet(kind) {
    const { input, files } = state.lastInput || (await collect());
    const text = snippet(kind, input, files);
    $('snippet').textContent = text;
    $('snippet').dataset.kind = kind;
    try { await navigator.clipboard.writeText(text); } catch (e) { /* shown on the page; clipboard needs a secure context */ }
  }

  // ------------------------------------------------------------------ start-up
  async function poll() {
    let status = 'unreachable';
    try {
      const resp = await fetch('health-check', { cache: 'no-store' });
      status = (await resp.json()).status || `HTTP ${resp.status}`;
    } catch (e) { status = 'unreachable'; }
    $('health').textContent = status;
    $('health').className = 'badge ' + status;
    if (!state.schema && (status === 'READY' || status === 'BUSY')) await loadSchema();
    setTimeout(poll, state.schema && status === 'READY' ? 5000 : 1000);
  }

  async function loadSchema() {
    try {
      const resp = await fetch('openapi.json', { cache: 'no-store' });
      if (!resp.ok) return;
      const schema = parseSchema(await resp.text());
      state.schema = schema;
      state.components = (schema.components && schema.components.schemas) || {};
      const paths = schema.paths || {};
      state.kind = paths['/predictions'] || !paths['/trainings'] ? 'predictions' : 'trainings';
      state.output = state.components[state.kind === 'trainings' ? 'TrainingOutput' : 'Output'] || null;
      // SSE only for a model that opted in (@cog.streaming, as Cog 0.21): others answer it with 406.
      const post = (paths['/' + state.kind] || {}).post || {};
      state.streams = state.kind === 'predictions' && post['x-cog-streaming'] === true;
      state.fields = fieldsFrom(schema);
      buildForm();
      setBusy(false);
      document.body.dataset.ready = 'true';
    } catch (e) {
      $('form-errors').textContent = 'cannot read openapi.json: ' + e.message;
    }
  }

  async function start() {
    document.title = 'Playground · ' + location.host;
    try {
      const resp = await fetch('playground/target.json', { cache: 'no-store' });
      if (resp.ok) {
        const target = (await resp.json()).target;
        if (target) { state.target = target.replace(/\/$/, ''); document.title = 'Playground · ' + target; }
      }
    } catch (e) { /* served by the model server itself */ }
    $('title').textContent = 'Playground · ' + state.target.replace(/^https?:\/\//, '');
    $('form').addEventListener('submit', onSubmit);
    $('cancel').addEventListener('click', cancel);
    $('reset').addEventListener('click', () => { buildForm(); showErrors([]); });
    $('clear-history').addEventListener('click', () => { localStorage.removeItem(HISTORY_KEY); renderHistory(); });
    for (const button of document.querySelectorAll('[data-snippet]')) {
      button.addEventListener('click', () => copySnippet(button.dataset.snippet));
    }
    $('form').addEventListener('input', () => { state.lastInput = null; });
    renderHistory();
    await poll();
  }

  window.cogkitPlayground = { state, snippet, collect };
  start();
})();
