// The page's behaviour, in plain JavaScript (no build step, no library): it asks the server which models it serves
// (GET /v1/models, answered in every phase), waits while they load, offers an upload for a model that takes images
// and explains why not for one that does not, and shows /v1/classify?explain=1's answer: the top classes as bars and
// the explanation picture. Everything comes from this server, so it works offline.
'use strict';

const TOP_K = 5;
const RETRY_MS = 1000;

const $ = (id) => document.getElementById(id);
let models = [];

function say(text, problem = false) {
  const message = $('message');
  message.textContent = text;
  message.classList.toggle('problem', problem);
}

function selected() {
  return models.find((m) => m.name === $('model').value) ?? models[0];
}

async function start() {
  let info;
  try {
    const answer = await fetch('/v1/models');
    info = await answer.json();
  } catch {
    say('The server does not answer; retrying…', true);
    setTimeout(start, RETRY_MS);
    return;
  }
  if (!info.ready) {
    if (info.phase === 'loading') {
      say('The server is still loading its models; this page will be ready when they are.');
      setTimeout(start, RETRY_MS);
    } else {
      say(`The server is not ready: ${info.reason ?? info.phase}`, true);
    }
    return;
  }
  models = info.models.filter((m) => m.state === 'READY');
  const picker = $('model');
  picker.replaceChildren(
    ...models.map((m) => {
      const option = document.createElement('option');
      option.value = m.name;
      option.textContent = m.name;
      option.selected = m.name === info.default;
      return option;
    }),
  );
  $('model-picker').hidden = models.length < 2;
  picker.addEventListener('change', showModel);
  showModel();
}

function showModel() {
  const model = selected();
  $('result').hidden = true;
  if (!model) {
    say('The server serves no model at the moment.', true);
    $('upload').hidden = true;
    return;
  }
  $('metadata-link').href = `/v2/models/${encodeURIComponent(model.name)}`;
  if (!model.images) {
    $('upload').hidden = true;
    say(`This page cannot classify images with model '${model.name}': ${model.refusal}`, true);
    return;
  }
  $('upload').hidden = false;
  say(`Model '${model.name}': ${model.classes} classes, inputs ${model.input.join(' × ')}. Pick or drop an image.`);
}

async function classify(file) {
  const model = selected();
  say(`Classifying ${file.name}…`);
  const query = new URLSearchParams({ model: model.name, explain: '1', k: String(Math.min(TOP_K, model.classes)) });
  let answer;
  let body;
  try {
    answer = await fetch(`/v1/classify?${query}`, {
      method: 'POST',
      headers: { 'content-type': file.type || 'application/octet-stream' },
      body: file,
    });
    body = await answer.json();
  } catch (error) {
    say(`The server did not answer: ${error.message}`, true);
    return;
  }
  if (!answer.ok) {
    say(`The server refused ${file.name}: ${body.error ?? answer.status}`, true);
    return;
  }
  showAnswer(file.name, body);
}

function showAnswer(name, body) {
  const rows = body.top.map(({ label, probability }) => {
    const item = document.createElement('li');
    const row = document.createElement('div');
    row.className = 'row';
    const labelText = document.createElement('span');
    labelText.className = 'label';
    labelText.textContent = label;
    const percent = document.createElement('span');
    percent.className = 'probability';
    percent.textContent = `${(probability * 100).toFixed(1)}%`;
    row.append(labelText, percent);
    const bar = document.createElement('div');
    bar.className = 'bar';
    // Set through the CSSOM, which the Content-Security-Policy allows (inline style attributes it does not).
    bar.style.width = `${Math.max(0.5, probability * 100)}%`;
    item.append(row, bar);
    return item;
  });
  $('top').replaceChildren(...rows);
  $('overlay').src = `data:image/png;base64,${body.explanation.png}`;
  $('result').hidden = false;
  say(`${name}: ${body.top[0].label} (model '${body.model_name}')`);
}

function wireUpload() {
  const drop = $('drop');
  $('file').addEventListener('change', (event) => {
    const [file] = event.target.files;
    if (file) classify(file);
  });
  drop.addEventListener('dragover', (event) => {
    event.preventDefault();
    drop.classList.add('over');
  });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (event) => {
    event.preventDefault();
    drop.classList.remove('over');
    const [file] = event.dataTransfer.files;
    if (file) classify(file);
  });
}

wireUpload();
start();
