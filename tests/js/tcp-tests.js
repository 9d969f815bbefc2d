export const tcpTests = [];
