// Web action with a field for each extension: .html, .svg, .text, .json.
function main(params) {
  return {
    html: '<html><body>hello ' + (params.name || 'stranger') + '</body></html>',
    svg: '<svg xmlns="http://www.w3.org/2000/svg"><circle cx="3" cy="3" r="3"/></svg>',
    text: 'plain ' + (params.name || 'stranger'),
  };
}
