mod background;
mod checks;
mod responses;
mod routing;
mod support;
mod wire;
