// Parse.Cloud.httpRequest for tests/sdk/cloud-http.test.mjs: `fetch` passes its params through
// as the request options and reports what came back (or how it failed).
Parse.Cloud.define('fetch', async (request) => {
  try {
    const response = await Parse.Cloud.httpRequest(request.params);
    return {
      ok: true,
      status: response.status,
      data: response.data === undefined ? null : response.data,
      text: response.text,
      location: response.headers.location || null,
    };
  } catch (failure) {
    if (failure instanceof Error) return { ok: false, message: failure.message };
    return { ok: false, status: failure.status, data: failure.data === undefined ? null : failure.data };
  }
});

Parse.Cloud.define('fetchWithCallbacks', (request) =>
  new Promise((resolve) => {
    Parse.Cloud.httpRequest({
      url: request.params.url,
      success: (response) => resolve(`success ${response.status}`),
      error: (response) => resolve(`error ${response.status}`),
    });
  }));
